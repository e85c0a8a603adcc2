/* cmd_compile.c - `stc-coord compile`: checkpoint -> quantized IR -> chip images in a .stc bundle.
 *
 * The order: load and import, the -O level's passes (default -O2), quantize
 * (calibrated on sample images), delay_balance, lowering onto the target's
 * cores and chips, then the bundle file and a summary of what was used.
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"
#include "stc_lower.h"
#include "stc_partition.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CALIB_IMAGES 64

stc_input_t *coord_calib_images(const coord_opts_t *o, const coord_model_t *m, stc_err_t *err) {
    stc_input_norm_t norm, *np = coord_norm(m->cfg.n_norm, m->cfg.norm_mean, m->cfg.norm_std, &norm);
    stc_input_t *in = NULL;
    const char *ds = o->dataset ? o->dataset : m->cfg.dataset[0] ? m->cfg.dataset : NULL;
    if (o->calib) {
        in = stc_input_load(o->calib, NULL, np, CALIB_IMAGES, err);
        if (!in) stc_err_prefix(err, "--calib");
    } else if (ds) {
        stc_input_norm_t dn;
        if (!np && !stc_input_dataset_norm(ds, &dn, err)) np = &dn;
        if (stc_input_dataset(ds, "train", np, CALIB_IMAGES, &in, err)) {
            if (o->dataset) /* the option, when the user gave it */
                stc_err_prefix(err, "--dataset %s: calibration images (the first %d of its training set)", ds,
                               CALIB_IMAGES);
            else
                stc_err_prefix(err, "calibration images (the first %d of %s's training set)", CALIB_IMAGES, ds);
            in = NULL;
        }
    } else {
        stc_log(STC_LOG_WARN, "compile",
                "no calibration images (--calib X or --dataset NAME): quantizing from static bounds");
        return NULL;
    }
    if (in) {
        const stc_node_t *x = &m->ir->nodes[0];
        if (in->c != x->shape.c || in->h != x->shape.h || in->w != x->shape.w) {
            stc_err_set(err, STC_E_USAGE, "calibration images are [%lld,%lld,%lld], the model expects [%d,%d,%d]",
                        (long long)in->c, (long long)in->h, (long long)in->w, x->shape.c, x->shape.h, x->shape.w);
            stc_input_destroy(&in);
        }
    }
    return in;
}

static void calib_status(void *ud, int done, int n) {
    (void)ud;
    coord_status("quantizing: calibration image %d of %d", done < n ? done + 1 : n, n);
}

/* The model through its passes and lowering into *out.  cal_out (may be NULL):
 * receives the calibration images quantize used (NULL if none), for the
 * rates that compile --topology measures on them. */
static int build_bundle(coord_opts_t *o, coord_model_t *m, const stc_target_t *t, const char *target_json,
                        stc_bundle_t **out, stc_input_t **cal_out, stc_cores_report_t *rep, stc_err_t *err) {
    *out = NULL;
    if (cal_out) *cal_out = NULL;
    if (!o->passes) o->passes = "-O2";
    coord_status("loading %s", o->model);
    if (coord_load_model(o, m, err)) return 1;
    stc_input_t *cal = NULL;
    if (o->calib || o->dataset || m->cfg.dataset[0]) {
        cal = coord_calib_images(o, m, err);
        if (!cal) return 1;
    } else if (o->topology && o->limit) { /* nothing to limit: the rates would be the static estimate */
        stc_err_set(err, STC_E_USAGE, "--limit %lld: it limits the calibration images the rates are measured on, "
                    "and %s names no data set; give --calib X or --dataset NAME", (long long)o->limit, o->model);
        return 1;
    } else {
        coord_calib_images(o, m, err); /* logs the warning */
    }
    stc_pass_opts_t po = {0};
    po.dump_after = o->dump_after;
    po.dump_to = stderr;
    po.verbose = stc_log_enabled(STC_LOG_INFO);
    po.weight_bits = o->weight_bits ? o->weight_bits : (t->weight_bits < 8 ? t->weight_bits : 8);
    po.payload_bits = t->payload_bits < 16 ? t->payload_bits : 16; /* stc's graded values use at most 16 */
    if (cal) {
        po.calib = cal->data;
        po.n_calib = (int)cal->n;
        po.calib_progress = calib_status;
        po.threads = coord_workers(o, cal->n, stc_interp_bytes(m->ir));
    }
    coord_status("quantizing");
    int rc = 0;
    if (po.weight_bits > t->weight_bits) {
        stc_err_set(err, STC_E_USAGE, "--weight-bits %d: target %s stores weights of at most %d bits", po.weight_bits,
                    t->name, t->weight_bits);
        rc = 1;
    }
    if (!rc && stc_pass_pipeline(m->ir, "quantize,delay_balance", &po, err)) rc = 1;
    if (rc || !cal_out) stc_input_destroy(&cal);
    if (rc) return 1;
    char opts[256];
    int n = snprintf(opts, sizeof opts, "%s --target %s --weight-bits %d", o->passes, t->name, po.weight_bits);
    for (int i = 0; i < o->n_flags && n > 0 && n < (int)sizeof opts; i++)
        n += snprintf(opts + n, sizeof opts - (size_t)n, " %s=%s", o->flag_names[i], o->flag_values[i]);
    if (o->chips && n > 0 && n < (int)sizeof opts) snprintf(opts + n, sizeof opts - (size_t)n, " --chips %d", o->chips);
    const char *base = strrchr(o->model, '/');
    /* with --topology the cut waits for measured rates (compile_place) */
    stc_lower_opts_t lo = {t, o->chips, base ? base + 1 : o->model, opts, target_json, 0, NULL, rep,
                           o->topology != NULL};
    coord_status("lowering onto %s and cutting the stages into cores", t->name);
    stc_bundle_t *b = stc_lower(m->ir, &lo, err);
    if (!b) {
        stc_input_destroy(&cal);
        return 1;
    }
    snprintf(b->dataset, sizeof b->dataset, "%s", m->cfg.dataset);
    b->n_norm = m->cfg.n_norm;
    memcpy(b->norm_mean, m->cfg.norm_mean, sizeof b->norm_mean);
    memcpy(b->norm_std, m->cfg.norm_std, sizeof b->norm_std);
    b->pytorch_accuracy = m->cfg.pytorch_accuracy;
    *out = b;
    if (cal_out) *cal_out = cal;
    return 0;
}

#define RATE_IMAGES 16 /* calibration images the rates are measured on (--limit N for fewer) */

/* The rates are counted on worker threads, one image each at a time, each
 * with its own integer interpreter and counts; the counts are summed, so
 * they do not depend on the number of workers. */
typedef struct {
    const stc_ir_t *ir;
    const stc_input_t *cal;
    int64_t n, next, done, per;
    pthread_mutex_t lock;
    stc_status_t st; /* the first failure */
    stc_err_t err;
} rate_job_t;

typedef struct {
    rate_job_t *j;
    int64_t *nz; /* per IR node: non-zero outputs over all timesteps and this worker's images */
} rate_ctx_t;

static void count_nonzero(void *ud, const stc_node_t *node, int t, const int64_t *q) {
    rate_ctx_t *c = ud;
    (void)t;
    int64_t n = (int64_t)node->shape.c * node->shape.h * node->shape.w, k = 0;
    for (int64_t i = 0; i < n; i++) k += q[i] != 0;
    c->nz[node->id] += k;
}

static void *rate_worker(void *arg) {
    rate_ctx_t *c = arg;
    rate_job_t *j = c->j;
    stc_err_t err = {0};
    const stc_node_t *out = &j->ir->nodes[j->ir->n_nodes - 1];
    float *logits = malloc(((size_t)out->shape.c * out->shape.h * out->shape.w + 1) * sizeof *logits);
    stc_qinterp_t *qi = logits ? stc_qinterp_create(j->ir, &err) : NULL;
    stc_status_t st = qi ? STC_OK : err.status ? err.status : stc_err_set(&err, STC_E_NOMEM, "out of memory");
    for (;;) {
        pthread_mutex_lock(&j->lock);
        if (st && !j->st) j->st = st, j->err = err;
        int64_t i = j->st || j->next >= j->n ? -1 : j->next++;
        if (i >= 0) coord_status("firing rates: %lld of %lld images", (long long)j->done, (long long)j->n);
        pthread_mutex_unlock(&j->lock);
        if (i < 0) break;
        st = stc_qinterp_run(qi, j->cal->data + i * j->per, logits, NULL, count_nonzero, c, &err);
        pthread_mutex_lock(&j->lock);
        j->done += !st;
        pthread_mutex_unlock(&j->lock);
    }
    stc_qinterp_destroy(&qi);
    free(logits);
    return NULL;
}

/* compile --topology: the stages' firing rates on the calibration images
 * quantize used (NULL: none, the static estimate), by the integer interpreter
 * (what the chip computes, bit for bit), then stc's cut and placement
 * (coord_place) and the tables. */
static int compile_place(coord_opts_t *o, coord_model_t *m, stc_bundle_t *b, const stc_target_t *t,
                         const stc_input_t *cal, cJSON *pj, stc_err_t *err) {
    if (cal) {
        enum { MAX_THREADS = 64 };
        int64_t n = cal->n < RATE_IMAGES ? cal->n : RATE_IMAGES;
        if (o->limit > 0 && o->limit < n) n = o->limit;
        int threads = coord_workers(o, n, stc_qinterp_bytes(m->ir));
        if (threads > MAX_THREADS) threads = MAX_THREADS;
        size_t nn = (size_t)m->ir->n_nodes;
        rate_job_t j = {.ir = m->ir, .cal = cal, .n = n, .per = cal->c * cal->h * cal->w};
        pthread_mutex_init(&j.lock, NULL);
        rate_ctx_t w[MAX_THREADS];
        pthread_t tid[MAX_THREADS];
        int started = 0;
        double *rate = malloc((size_t)b->n_stages * sizeof *rate);
        coord_status_end();
        if (!o->json) fprintf(stderr, "measuring firing rates on %lld calibration images\n", (long long)n);
        for (int k = 0; k < threads && rate; k++) {
            w[k].j = &j;
            if (!(w[k].nz = calloc(nn, sizeof *w[k].nz))) break;
            if (pthread_create(&tid[k], NULL, rate_worker, &w[k])) {
                free(w[k].nz);
                break;
            }
            started++;
        }
        for (int k = 0; k < started; k++) pthread_join(tid[k], NULL);
        coord_status_end();
        int bad = !started || j.st;
        if (j.st) *err = j.err;
        else if (bad) stc_err_set(err, STC_E_NOMEM, "out of memory measuring the firing rates");
        for (int k = 1; k < started; k++)
            for (size_t i = 0; i < nn; i++) w[0].nz[i] += w[k].nz[i];
        for (int s = 0; !bad && s < b->n_stages; s++) {
            const stc_stage_t *g = &b->stages[s];
            const stc_node_t *x = &m->ir->nodes[g->ir_node];
            double nx = (double)x->shape.c * x->shape.h * x->shape.w;
            /* events per neuron per inference: a dense relay sends every value */
            rate[s] = g->dense ? b->T : (double)w[0].nz[g->ir_node] / ((double)n * nx);
        }
        if (!bad) {
            free(b->stage_rate);
            b->stage_rate = rate;
            rate = NULL;
            const char *ds = o->dataset ? o->dataset : m->cfg.dataset;
            o->rate_images = (int)n;
            snprintf(o->rates_from, sizeof o->rates_from, "measured by the integer interpreter on %lld calibration "
                     "images (%s%s)%s", (long long)n, o->calib ? o->calib : ds, o->calib ? "" : "'s training set",
                     o->limit > RATE_IMAGES ? " (--limit: at most 16)" : "");
        }
        for (int k = 0; k < started; k++) free(w[k].nz);
        pthread_mutex_destroy(&j.lock);
        free(rate);
        if (bad) return 1;
    }
    return coord_place(o, b, t, pj) ? 1 : 0;
}

int cmd_compile(coord_opts_t *o) {
    stc_err_t err = {0};
    if (!o->out) {
        fprintf(stderr, "stc-coord: error: compile needs -o FILE.stc (where to write the chip images)\n");
        return 2;
    }
    if (o->picture && !o->topology) {
        fprintf(stderr, "stc-coord: error: --picture %s draws the placement on a topology: give --topology too\n",
                o->picture);
        return 2;
    }
    /* options of the placement (--picture: below), refused rather than ignored without one */
    const char *needs_topo = o->strategy ? "--strategy" : o->spread ? "--spread" : o->limit ? "--limit" : NULL;
    if (needs_topo && !o->topology) {
        fprintf(stderr, "stc-coord: error: %s is an option of the placement%s: give --topology too\n", needs_topo,
                !strcmp(needs_topo, "--limit") ? " (the images its rates are measured on)" : "");
        return 2;
    }
    if (o->calib && o->dataset) {
        fprintf(stderr, "stc-coord: error: --calib %s and --dataset %s: quantize calibrates on one set of images; "
                        "give one\n", o->calib, o->dataset);
        return 2;
    }
    const char *tname = o->target ? o->target : "loihi3";
    stc_target_t t;
    if (stc_target_load(tname, &t, &err)) {
        coord_fail(&err);
        return 1;
    }
    int bad_place = o->topology ? coord_place_check(o, &t) : 0; /* a typo found now, not after the compile */
    if (bad_place) return bad_place;
    unsigned char *tjson = NULL;
    size_t tn = 0;
    if (!stc_target_preset_json(tname) && stc_read_file(tname, 1 << 20, &tjson, &tn, &err)) {
        coord_fail(&err);
        return 1;
    }
    coord_model_t m;
    stc_bundle_t *b = NULL;
    int rc = 1;
    cJSON *pj = o->topology && o->json ? cJSON_CreateObject() : NULL;
    stc_input_t *cal = NULL;
    stc_cores_report_t cut; /* the lowering's own cut (without --topology; the partition reports its own) */
    memset(&cut, 0, sizeof cut);
    coord_status_begin(o, "compile");
    if (build_bundle(o, &m, &t, (const char *)tjson, &b, o->topology ? &cal : NULL, &cut, &err) ||
        (o->topology && compile_place(o, &m, b, &t, cal, pj, &err)) ||
        (o->topology && stc_bundle_validate(b, o->out, &err))) {
        if (err.status) coord_fail(&err);
        cJSON *why = pj ? cJSON_GetObjectItem(pj, "error") : NULL;
        if (why) { /* the placement's report says what did not fit, for scripts */
            cJSON *r = cJSON_CreateObject();
            cJSON_AddStringToObject(r, "model", o->model);
            cJSON_AddStringToObject(r, "target", t.name);
            cJSON_AddStringToObject(r, "error", why->valuestring);
            cJSON_AddItemToObject(r, "partition", pj);
            pj = NULL;
            char *s = cJSON_PrintUnformatted(r);
            if (s) puts(s);
            free(s);
            cJSON_Delete(r);
        }
        goto out;
    }
    coord_status("writing %s", o->out);
    int bad = stc_bundle_write(b, o->out, &err);
    coord_status_end();
    if (bad) {
        coord_fail(&err);
        goto out;
    }
    struct stat st;
    long long fsize = stat(o->out, &st) ? -1 : (long long)st.st_size;
    /* what was used */
    int64_t neurons = 0, mem = 0, axons = 0, routes = 0, weights = 0;
    for (int c = 1; c < b->n_cores; c++) {
        const stc_core_t *k = &b->cores[c];
        neurons += k->n_neurons;
        mem += k->mem_state + k->mem_syn; /* the axon tables are counted as axons */
        axons += k->n_axons;
        routes += k->n_routes;
    }
    for (int p = 0; p < b->n_projs; p++) weights += b->projs[p].n_w;
    int cores = b->n_cores - 1, sliced = 0, split = 0; /* layers cut by their inputs (docs/backend.md 2.3) */
    for (int p = 0; p < b->n_projs; p++) {
        const stc_proj_t *pj = &b->projs[p];
        if ((pj->kind != STC_SK_DENSE && pj->kind != STC_SK_CONV) || pj->ci == b->stages[pj->src].c) continue;
        sliced++;
        split += pj->c0 == 0; /* a layer's first slice */
    }
    stc_cores_report_t lb;
    stc_cores_lower_bound(b, &t, &lb);
    double util_n = cores ? (double)neurons / ((double)cores * t.neurons_per_core) : 0;
    double util_m = cores ? (double)mem / ((double)cores * t.memory_per_core_bytes) : 0;
    double util_a = cores ? (double)axons / ((double)cores * t.fan_in_axons_per_core) : 0;
    double util_r = cores ? (double)routes / ((double)cores * t.fan_out_axons_per_core) : 0;
    if (o->json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "bundle", o->out);
        cJSON_AddStringToObject(r, "model", b->model);
        cJSON_AddStringToObject(r, "target", b->target);
        cJSON_AddStringToObject(r, "options", b->options);
        cJSON_AddNumberToObject(r, "T", b->T);
        cJSON_AddNumberToObject(r, "ticks_per_inference", b->ticks);
        cJSON_AddNumberToObject(r, "stages", b->n_stages);
        cJSON_AddNumberToObject(r, "projections", b->n_projs);
        cJSON_AddNumberToObject(r, "split_layers", split);
        cJSON_AddNumberToObject(r, "slice_stages", sliced);
        cJSON_AddNumberToObject(r, "cores_used", cores);
        if (!o->topology) {
            cJSON_AddNumberToObject(r, "packed_stages", cut.packed_stages);
            cJSON_AddNumberToObject(r, "packed_pools", cut.packed_pools);
        }
        cJSON_AddNumberToObject(r, "chips_used", stc_bundle_chips_used(b));
        cJSON_AddNumberToObject(r, "chips", b->n_chips);
        cJSON_AddNumberToObject(r, "neurons", (double)neurons);
        cJSON_AddNumberToObject(r, "weights_stored", (double)weights);
        cJSON_AddNumberToObject(r, "memory_bytes", (double)mem);
        cJSON_AddNumberToObject(r, "neuron_utilization", util_n);
        cJSON_AddNumberToObject(r, "memory_utilization", util_m);
        cJSON_AddNumberToObject(r, "axons", (double)axons);
        cJSON_AddNumberToObject(r, "routes", (double)routes);
        cJSON_AddNumberToObject(r, "fan_in_utilization", util_a);
        cJSON_AddNumberToObject(r, "fan_out_utilization", util_r);
        cJSON_AddNumberToObject(r, "file_bytes", (double)fsize);
        cJSON_AddNumberToObject(r, "lower_bound", lb.lower_bound);
        cJSON_AddNumberToObject(r, "lower_bound_limits", lb.lower_bound_limits);
        if (b->topology[0]) cJSON_AddStringToObject(r, "topology", b->topology);
        if (pj) {
            cJSON_AddItemToObject(r, "partition", pj);
            pj = NULL;
        }
        cJSON *arr = cJSON_AddArrayToObject(r, "stage_list");
        for (int s = 0; s < b->n_stages; s++) {
            const stc_stage_t *g = &b->stages[s];
            int slices = 0;
            for (int c = 0; c < b->n_cores; c++)
                for (int i = 0; i < b->cores[c].n_slices; i++) slices += b->cores[c].slices[i].stage == s;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "name", g->name);
            cJSON_AddStringToObject(e, "kind", coord_kind_name(g->kind));
            cJSON_AddNumberToObject(e, "neurons", (double)g->c * g->h * g->w);
            cJSON_AddNumberToObject(e, "depth", g->depth);
            cJSON_AddNumberToObject(e, "slices", slices);
            cJSON_AddItemToArray(arr, e);
        }
        char *s = cJSON_PrintUnformatted(r);
        puts(s);
        free(s);
        cJSON_Delete(r);
    } else {
        printf("compiled %s for %s (%s)\n", o->model, b->target, b->options);
        printf("  %d stages, %d projections, pipeline depth %d: %d ticks per inference of T=%d\n", b->n_stages,
               b->n_projs, b->ticks - b->T, b->ticks, b->T);
        if (split)
            printf("  split        %d layer%s into %d slices of %s input channels (partial sums, one more "
                   "tick each)\n", split, split == 1 ? "" : "s", sliced, split == 1 ? "its" : "their");
        char cp[48];
        printf("  cores        %d on %s (%d cores per chip; lower bounds: %d by demand, %d by the target's "
               "limits)\n", cores, coord_chips_phrase(b, cp, sizeof cp), t.cores_per_chip, lb.lower_bound,
               lb.lower_bound_limits);
        if (cut.packed_stages) {
            char what[96];
            printf("  packed       %s into the slack of %s neighbours' cores (%d cores with every stage on cores of "
                   "its own)\n", stc_cores_packed_what(&cut, what, sizeof what),
                   cut.packed_stages == 1 ? "its" : "their", cut.cores_unpacked);
        }
        if (b->topology[0]) printf("  placed on    %s\n", b->topology);
        printf("  neurons      %lld, %.1f%% of the cores' capacity\n", (long long)neurons, 100 * util_n);
        printf("  memory       %.1f KB (neuron state and synapses), %.1f%% of the cores' capacity\n",
               mem / 1024.0, 100 * util_m);
        printf("  weights      %lld stored once each (shared over tokens and positions)\n", (long long)weights);
        printf("  tables       %lld input axons, %lld routes, %.1f%% and %.1f%% of the cores' capacity\n",
               (long long)axons, (long long)routes, 100 * util_a, 100 * util_r);
        printf("  wrote        %s (%lld bytes)\n", o->out, fsize);
    }
    rc = 0;
out:
    coord_status_end();
    stc_input_destroy(&cal);
    cJSON_Delete(pj);
    free(tjson);
    stc_bundle_destroy(&b);
    coord_model_free(&m);
    return rc;
}
