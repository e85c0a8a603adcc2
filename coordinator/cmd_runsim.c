/* cmd_runsim.c - `stc-coord run MODEL.stc` and `stc-coord profile MODEL.stc`: the chip simulator.
 *
 * run: the same inputs and output as the float run (logits, class,
 * spike_counts by PyTorch module name, accuracy), computed by the
 * bit-accurate chip simulator on the compiled chip images, one simulator per
 * worker thread, as many workers as a quarter of the memory holds (the
 * first simulator says how much one takes).  profile: the counters of those
 * runs through the target's energy and latency model, by layer and by
 * operation class, beside the paper-style estimate.  partition measures its
 * firing rates here too (coord_sim_stage_spikes).
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"
#include "stc_chipsim.h"

#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define PROFILE_DEFAULT_IMAGES 100

/* A bundle is named *.stc (the reader then checks its magic and says what it found). */
int coord_is_bundle(const char *path) {
    size_t n = strlen(path);
    return n > 4 && !strcmp(path + n - 4, ".stc");
}

typedef struct {
    const stc_bundle_t *b;
    const stc_input_t *in;
    int64_t n;
    float *logits;                /* n * n_out */
    int64_t *spikes;              /* n * n_stages */
    uint64_t *digest;             /* n (--digest), else NULL */
    stc_core_counters_t *cores;   /* summed over workers, n_cores */
    stc_core_counters_t *stages;  /* n_stages */
    atomic_llong next, done, correct;
    atomic_int failed;
    stc_err_t err;
    pthread_mutex_t lock;
    stc_chipsim_t *first; /* made before the workers start, taken by the first of them */
} simjob_t;

void coord_add_counters(stc_core_counters_t *a, const stc_core_counters_t *c) {
    a->synops += c->synops, a->neuron_updates += c->neuron_updates, a->neuron_active += c->neuron_active;
    a->spikes += c->spikes, a->msgs_local += c->msgs_local, a->msgs_core += c->msgs_core;
    a->core_hops += c->core_hops, a->msgs_chip += c->msgs_chip, a->kernel_ops += c->kernel_ops;
    a->chip_hops += c->chip_hops, a->chip_link_fj += c->chip_link_fj;
    a->ticks_active += c->ticks_active;
}

static void *sim_worker(void *arg) {
    simjob_t *j = arg;
    stc_err_t err = {0};
    pthread_mutex_lock(&j->lock);
    stc_chipsim_t *s = j->first;
    j->first = NULL;
    pthread_mutex_unlock(&j->lock);
    if (!s) s = stc_chipsim_create(j->b, &err);
    if (s && j->digest) stc_chipsim_set_digest(s, 1);
    int64_t per = (int64_t)j->b->in_c * j->b->in_h * j->b->in_w;
    for (;;) {
        if (!s) break;
        int64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->failed)) break;
        float *lg = j->logits + i * j->b->n_out;
        if (stc_chipsim_run(s, j->in->data + i * per, lg, j->spikes + i * j->b->n_stages, NULL, NULL, &err)) break;
        if (j->digest) j->digest[i] = stc_chipsim_digest(s);
        if (j->in->labels && coord_argmax(lg, j->b->n_out) == j->in->labels[i]) atomic_fetch_add(&j->correct, 1);
        atomic_fetch_add(&j->done, 1);
    }
    pthread_mutex_lock(&j->lock);
    if (err.status && !atomic_exchange(&j->failed, 1)) j->err = err;
    if (s) {
        const stc_core_counters_t *c = stc_chipsim_counters(s), *g = stc_chipsim_stage_counters(s);
        for (int k = 0; k < j->b->n_cores; k++) coord_add_counters(&j->cores[k], &c[k]);
        for (int k = 0; k < j->b->n_stages; k++) coord_add_counters(&j->stages[k], &g[k]);
    }
    pthread_mutex_unlock(&j->lock);
    stc_chipsim_destroy(&s);
    return NULL;
}

/* Load the bundle and the inputs it is asked to run. */
int coord_load_bundle_inputs(coord_opts_t *o, stc_bundle_t **bp, stc_input_t **inp, int64_t default_limit) {
    stc_err_t err = {0};
    *bp = stc_bundle_read(o->model, &err);
    if (!*bp) {
        coord_fail(&err);
        return 1;
    }
    return coord_load_inputs(o, *bp, inp, default_limit);
}

/* The inputs o selects for bundle b, normalized as b says and checked against its input shape. */
int coord_load_inputs(coord_opts_t *o, const stc_bundle_t *b, stc_input_t **inp, int64_t default_limit) {
    stc_err_t err = {0};
    stc_input_norm_t norm, *np = coord_norm(b->n_norm, b->norm_mean, b->norm_std, &norm);
    const char *ds = o->dataset;
    if (!o->input && !ds && default_limit) ds = b->dataset[0] ? b->dataset : NULL;
    if (!o->input && !ds) {
        fprintf(stderr, "stc-coord: error: %s needs --input X (npy or idx) or --dataset NAME (its test set)\n",
                o->model);
        return 2;
    }
    stc_input_norm_t dn;
    if (ds && !np && !stc_input_dataset_norm(ds, &dn, &err)) np = &dn;
    int64_t limit = o->limit ? o->limit : (o->input ? 0 : default_limit);
    if (ds && !o->input) {
        if (stc_input_dataset(ds, "test", np, limit, inp, &err)) *inp = NULL;
    } else {
        *inp = stc_input_load(o->input, o->labels, np, limit, &err);
    }
    if (!*inp) {
        coord_fail(&err);
        return 1;
    }
    stc_input_t *in = *inp;
    if (in->c != b->in_c || in->h != b->in_h || in->w != b->in_w) {
        fprintf(stderr, "stc-coord: error: %s: images are [%lld,%lld,%lld], %s was compiled for [%d,%d,%d]\n",
                o->input ? o->input : ds, (long long)in->c, (long long)in->h, (long long)in->w, o->model, b->in_c,
                b->in_h, b->in_w);
        return 1;
    }
    return 0;
}

/* Run the inputs on the simulators.  what: NULL to show the progress bar
 * (run, profile), else the status line's phase (partition's rates). */
static int simulate(const coord_opts_t *o, const stc_bundle_t *b, const stc_input_t *in, simjob_t *j, double *secs,
                    int *threads_used, const char *what) {
    memset(j, 0, sizeof *j);
    j->b = b, j->in = in, j->n = in->n;
    j->logits = calloc((size_t)j->n * b->n_out, sizeof(float));
    j->spikes = calloc((size_t)j->n * b->n_stages, sizeof(int64_t));
    j->cores = calloc((size_t)b->n_cores, sizeof *j->cores);
    j->stages = calloc((size_t)b->n_stages, sizeof *j->stages);
    if (o->digest && !(j->digest = calloc((size_t)j->n, sizeof *j->digest))) {
        fprintf(stderr, "stc-coord: error: out of memory\n");
        return 1;
    }
    pthread_mutex_init(&j->lock, NULL);
    if (!j->logits || !j->spikes || !j->cores || !j->stages) {
        fprintf(stderr, "stc-coord: error: out of memory\n");
        return 1;
    }
    /* one simulator first: what it holds sets how many fit (Spikformer-8-768's
     * takes about 10 GB, and two of them took 21.9 GB of a 24 GB machine) */
    double t0 = coord_now();
    stc_err_t err = {0};
    if (!(j->first = stc_chipsim_create(b, &err))) {
        coord_fail(&err);
        return 1;
    }
    int threads = coord_workers(o, j->n, stc_chipsim_state_bytes(j->first));
    *threads_used = threads;
    if (what) coord_status("%s: image 1 of %lld", what, (long long)j->n);
    pthread_t tid[64];
    int started = 0;
    for (int i = 0; i < threads; i++, started++)
        if (pthread_create(&tid[i], NULL, sim_worker, j)) break;
    if (!started) {
        stc_chipsim_destroy(&j->first);
        fprintf(stderr, "stc-coord: error: cannot start a simulator thread\n");
        return 1;
    }
    threads = started;
    *threads_used = threads;
    int show = (o->progress || (isatty(2) && !o->json)) && !o->no_progress && j->n > 1 && !what;
    while ((show || what) && atomic_load(&j->done) < j->n && !atomic_load(&j->failed)) {
        if (what) {
            int64_t d = atomic_load(&j->done);
            coord_status("%s: image %lld of %lld", what, (long long)(d < j->n ? d + 1 : j->n), (long long)j->n);
        }
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        if (show)
            coord_progress(atomic_load(&j->done), j->n, coord_now() - t0, atomic_load(&j->correct),
                           in->labels != NULL);
    }
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    *secs = coord_now() - t0;
    if (show) {
        coord_progress(atomic_load(&j->done), j->n, *secs, atomic_load(&j->correct), in->labels != NULL);
        fputc('\n', stderr);
    }
    if (atomic_load(&j->failed)) {
        coord_fail(&j->err);
        return 1;
    }
    return 0;
}

static void simjob_free(simjob_t *j) {
    stc_chipsim_destroy(&j->first);
    free(j->logits);
    free(j->spikes);
    free(j->digest);
    free(j->cores);
    free(j->stages);
    pthread_mutex_destroy(&j->lock);
}

int coord_sim_stage_spikes(const coord_opts_t *o, const stc_bundle_t *b, const stc_input_t *in, const char *what,
                           int64_t *spikes) {
    simjob_t j;
    double secs = 0;
    int threads = 0;
    int rc = simulate(o, b, in, &j, &secs, &threads, what);
    memset(spikes, 0, (size_t)b->n_stages * sizeof *spikes);
    for (int64_t i = 0; !rc && i < j.n; i++)
        for (int k = 0; k < b->n_stages; k++) spikes[k] += j.spikes[i * b->n_stages + k];
    stc_log(STC_LOG_DEBUG, "rates", "%lld images on %d simulators in %.1f s", (long long)j.n, threads, secs);
    simjob_free(&j);
    return rc;
}

/* MACs of the first layer on the real-valued image (the papers count them as MACs). */
static double input_macs(const stc_bundle_t *b) {
    double m = 0;
    for (int p = 0; p < b->n_projs; p++) {
        const stc_proj_t *q = &b->projs[p];
        if (q->src != b->input_stage) continue;
        const stc_stage_t *d = &b->stages[q->dst];
        m += (double)d->c * d->h * d->w * (double)(q->n_w / (q->co ? q->co : 1));
    }
    return m * b->T;
}

/* Synaptic operations of the stages fed by the image alone (the first layer). */
static double input_synops(const stc_bundle_t *b, const stc_core_counters_t *stages) {
    double s = 0;
    for (int d = 0; d < b->n_stages; d++) {
        int from_input = 0, other = 0;
        for (int p = 0; p < b->n_projs; p++)
            if (b->projs[p].dst == d) {
                from_input |= b->projs[p].src == b->input_stage;
                other |= b->projs[p].src != b->input_stage;
            }
        if (from_input && !other) s += (double)stages[d].synops;
    }
    return s;
}

int cmd_run_bundle(coord_opts_t *o) {
    if (o->trace || o->force || o->float_mode || o->int_mode) {
        fprintf(stderr, "stc-coord: error: %s is a compiled bundle: it runs on the chip simulator; --float, --int, "
                        "--trace and --force-spikes take a checkpoint\n", o->model);
        return 2;
    }
    if (o->endpoint) return cmd_run_distributed(o);
    stc_bundle_t *b = NULL;
    stc_input_t *in = NULL;
    simjob_t j;
    memset(&j, 0, sizeof j);
    int rc = coord_load_bundle_inputs(o, &b, &in, 0);
    double secs = 0;
    int threads = 0;
    if (!rc) rc = simulate(o, b, in, &j, &secs, &threads, NULL);
    if (!rc) {
        coord_runres_t r;
        memset(&r, 0, sizeof r);
        r.n = j.n, r.logits = j.logits, r.spikes = j.spikes, r.digest = j.digest, r.cores = j.cores;
        r.stages = j.stages, r.correct = atomic_load(&j.correct), r.secs = secs, r.threads = threads;
        rc = coord_run_report(o, b, in, &r, NULL);
    }
    simjob_free(&j);
    stc_input_destroy(&in);
    stc_bundle_destroy(&b);
    return rc;
}

/* The report of a run (single-process or distributed): per input class and
 * logits, spikes per LIF layer, energy and latency from the counters,
 * accuracy beside PyTorch's.  --json: one object; --digest adds every input's
 * spike digest and every core's and stage's counters (what the determinism
 * tests compare).  extra: more JSON fields (the deployment's), or NULL. */
int coord_run_report(const coord_opts_t *o, const stc_bundle_t *b, const stc_input_t *in, const coord_runres_t *j,
                     cJSON *extra) {
    stc_target_t t;
    if (coord_bundle_target(b, &t)) {
        cJSON_Delete(extra);
        return 1;
    }
    stc_energy_t e;
    stc_energy_model(b, &t, j->cores, j->n, input_macs(b), input_synops(b, j->stages), &e);
    char cp[48];
    int64_t correct = j->correct;
    double secs = j->secs;
    if (o->json) {
        cJSON *r = extra ? extra : cJSON_CreateObject();
        cJSON_AddStringToObject(r, "model", o->model);
        cJSON_AddStringToObject(r, "engine", j->ranks ? "chipsim-distributed" : "chipsim");
        cJSON_AddStringToObject(r, "target", b->target);
        cJSON_AddNumberToObject(r, "T", b->T);
        cJSON_AddNumberToObject(r, "n_inputs", (double)j->n);
        cJSON_AddNumberToObject(r, "seconds", secs);
        cJSON_AddNumberToObject(r, "inferences_per_second", secs > 0 ? (double)j->n / secs : 0);
        if (in->labels) cJSON_AddNumberToObject(r, "accuracy", (double)correct / (double)j->n);
        if (b->pytorch_accuracy >= 0) cJSON_AddNumberToObject(r, "pytorch_accuracy", b->pytorch_accuracy);
        cJSON_AddNumberToObject(r, "energy_uj_per_inference", e.total_uj);
        cJSON_AddNumberToObject(r, "latency_us", e.latency_us);
        cJSON *en = cJSON_AddObjectToObject(r, "energy_paper_style");
        cJSON_AddNumberToObject(en, "uj_per_inference", e.paper_uj);
        cJSON *fr = cJSON_AddObjectToObject(r, "firing_rates");
        for (int s = 0; s < b->n_stages; s++)
            if (b->stages[s].kind == STC_NK_LIF) {
                double tot = 0, cells = (double)b->stages[s].c * b->stages[s].h * b->stages[s].w;
                for (int64_t i = 0; i < j->n; i++) tot += (double)j->spikes[i * b->n_stages + s];
                cJSON_AddNumberToObject(fr, b->stages[s].name, tot / ((double)j->n * cells * b->T));
            }
        cJSON *arr = cJSON_AddArrayToObject(r, "inputs");
        for (int64_t i = 0; i < j->n; i++) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "index", (double)i);
            cJSON_AddNumberToObject(x, "class", coord_argmax(j->logits + i * b->n_out, b->n_out));
            if (in->labels) cJSON_AddNumberToObject(x, "label", in->labels[i]);
            cJSON_AddItemToObject(x, "logits", cJSON_CreateFloatArray(j->logits + i * b->n_out, b->n_out));
            cJSON *sc = cJSON_AddObjectToObject(x, "spike_counts");
            for (int s = 0; s < b->n_stages; s++)
                if (b->stages[s].kind == STC_NK_LIF)
                    cJSON_AddNumberToObject(sc, b->stages[s].name, (double)j->spikes[i * b->n_stages + s]);
            if (o->digest && j->digest) {
                char hex[24];
                snprintf(hex, sizeof hex, "%016llx", (unsigned long long)j->digest[i]);
                cJSON_AddStringToObject(x, "digest", hex);
                cJSON *all = cJSON_AddArrayToObject(x, "stage_events");
                for (int s = 0; s < b->n_stages; s++)
                    cJSON_AddItemToArray(all, cJSON_CreateNumber((double)j->spikes[i * b->n_stages + s]));
            }
            cJSON_AddItemToArray(arr, x);
        }
        if (o->digest) {
            cJSON *cc = cJSON_AddArrayToObject(r, "core_counters"), *sc = cJSON_AddArrayToObject(r, "stage_counters");
            for (int pass = 0; pass < 2; pass++)
                for (int k = 0; k < (pass ? b->n_stages : b->n_cores); k++) {
                    const stc_core_counters_t *c = pass ? &j->stages[k] : &j->cores[k];
                    double v[11] = {(double)c->synops,    (double)c->neuron_updates, (double)c->neuron_active,
                                    (double)c->spikes,    (double)c->msgs_local,     (double)c->msgs_core,
                                    (double)c->core_hops, (double)c->msgs_chip,      (double)c->chip_hops,
                                    (double)c->kernel_ops, (double)c->ticks_active};
                    cJSON_AddItemToArray(pass ? sc : cc, cJSON_CreateDoubleArray(v, 11));
                }
        }
        char *s = cJSON_PrintUnformatted(r);
        puts(s);
        free(s);
        cJSON_Delete(r);
    } else {
        for (int64_t i = 0; i < j->n && j->n <= 20; i++) {
            int c = coord_argmax(j->logits + i * b->n_out, b->n_out);
            printf("input %lld: class %d", (long long)i, c);
            if (in->labels) printf(" (label %d)", in->labels[i]);
            printf("  logits");
            for (int k = 0; k < b->n_out && k < 10; k++) printf(" %.4f", (double)j->logits[i * b->n_out + k]);
            printf("%s\n", b->n_out > 10 ? " ..." : "");
        }
        if (j->ranks)
            printf("%lld images in %.1f s (%.1f img/s) on %d rank%s of stc-node, chip simulator, %s, %d cores on "
                   "%s, T=%d\n\n",
                   (long long)j->n, secs, j->n / secs, j->ranks, j->ranks == 1 ? "" : "s", b->target, b->n_cores - 1,
                   coord_chips_phrase(b, cp, sizeof cp), b->T);
        else
            printf("%lld images in %.1f s (%.1f img/s, %d threads), chip simulator, %s, %d cores on %s, T=%d\n\n",
                   (long long)j->n, secs, j->n / secs, j->threads, b->target, b->n_cores - 1,
                   coord_chips_phrase(b, cp, sizeof cp), b->T);
        printf("%-34s %9s %14s %8s\n", "LIF layer", "neurons", "spikes/image", "rate");
        double all = 0;
        for (int s = 0; s < b->n_stages; s++) {
            const stc_stage_t *g = &b->stages[s];
            if (g->kind != STC_NK_LIF) continue;
            double tot = 0, cells = (double)g->c * g->h * g->w;
            for (int64_t i = 0; i < j->n; i++) tot += (double)j->spikes[i * b->n_stages + s];
            all += tot;
            printf("%-34s %9.0f %14.1f %7.2f%%\n", g->name, cells, tot / j->n, 100.0 * tot / (j->n * cells * b->T));
        }
        printf("%-34s %9s %14.1f\n\n", "all layers", "", all / j->n);
        printf("energy       %.2f uJ per inference on %s (%.2f dynamic + %.2f static), latency %.1f us\n",
               e.total_uj, b->target, e.dyn_uj, e.static_uj, e.latency_us);
        printf("             paper-style %.2f uJ (E_AC 0.9 pJ, E_MAC 4.6 pJ); details: stc-coord profile\n",
               e.paper_uj);
        if (j->ranks) {
            int64_t neurons = 0;
            for (int c = 1; c < b->n_cores; c++) neurons += b->cores[c].n_neurons;
            double util = b->n_cores > 1 ? (double)neurons / ((double)(b->n_cores - 1) * t.neurons_per_core) : 0;
            int used = stc_bundle_chips_used(b);
            printf("chips        %s%s%s: %d of their %d cores used, %.1f%% of those cores' neurons\n",
                   coord_chips_phrase(b, cp, sizeof cp), b->topology[0] ? " of " : "", b->topology, b->n_cores - 1,
                   used * t.cores_per_chip, 100 * util);
            printf("runtime      %d rank%s: %.3f ms per tick (%.3f ms of it exchange and sync), %.2f ms per "
                   "inference (wall clock, simulated chips)\n",
                   j->ranks, j->ranks == 1 ? "" : "s", 1e3 * j->tick_s, 1e3 * j->sync_s, 1e3 * j->wall_latency_s);
        }
        if (in->labels)
            printf("accuracy     %.2f%% (%lld/%lld)  chip simulator%s\n", 100.0 * correct / j->n, (long long)correct,
                   (long long)j->n, j->ranks ? ", distributed" : "");
        if (b->pytorch_accuracy >= 0)
            printf("accuracy     %.2f%%               PyTorch, measured at training\n", 100.0 * b->pytorch_accuracy);
        cJSON_Delete(extra);
    }
    return 0;
}

/* The counters of chip c's cores, summed; returns how many cores it has. */
static int chip_counters(const stc_bundle_t *b, const stc_core_counters_t *cores, int c, stc_core_counters_t *a) {
    int n = 0;
    memset(a, 0, sizeof *a);
    for (int k = 0; k < b->n_cores; k++)
        if (b->cores[k].chip == c) {
            coord_add_counters(a, &cores[k]);
            n++;
        }
    return n;
}

int cmd_profile(coord_opts_t *o) {
    if (!coord_is_bundle(o->model)) {
        fprintf(stderr, "stc-coord: error: %s: profile takes a compiled bundle (stc-coord compile ... -o M.stc)\n",
                o->model);
        return 2;
    }
    stc_bundle_t *b = NULL;
    stc_input_t *in = NULL;
    simjob_t j;
    memset(&j, 0, sizeof j);
    int rc = coord_load_bundle_inputs(o, &b, &in, PROFILE_DEFAULT_IMAGES);
    double secs = 0;
    int threads = 0;
    stc_target_t t;
    if (!rc) rc = coord_bundle_target(b, &t);
    if (!rc) rc = simulate(o, b, in, &j, &secs, &threads, NULL);
    if (rc) goto out;
    stc_energy_t e;
    double n = (double)j.n;
    stc_energy_model(b, &t, j.cores, j.n, input_macs(b), input_synops(b, j.stages), &e);
    /* per layer: the same model restricted to one stage's counters (dynamic only) */
    int64_t neurons = 0;
    for (int c = 1; c < b->n_cores; c++) neurons += b->cores[c].n_neurons;
    double util = (b->n_cores - 1) ? (double)neurons / ((double)(b->n_cores - 1) * t.neurons_per_core) : 0;
    int used = stc_bundle_chips_used(b);
    double static_w = t.static_power_w * used; /* the chips that hold cores (node/profile.c) */
    char cp[48];
    stc_core_counters_t msg;
    memset(&msg, 0, sizeof msg);
    for (int c = 0; c < b->n_cores; c++) coord_add_counters(&msg, &j.cores[c]);
    cJSON *r = o->json ? cJSON_CreateObject() : NULL;
    cJSON *layers = r ? cJSON_AddArrayToObject(r, "layers") : NULL;
    if (!r) {
        printf("profile of %s on %s: %lld inferences, %d cores on %s, T=%d, %d ticks per inference\n\n",
               o->model, b->target, (long long)j.n, b->n_cores - 1, coord_chips_phrase(b, cp, sizeof cp), b->T, b->ticks);
        printf("%-32s %-7s %10s %10s %10s %9s %9s\n", "layer", "kind", "synops", "updates", "spikes", "uJ", "share");
    }
    for (int s = 0; s < b->n_stages; s++) {
        const stc_core_counters_t *g = &j.stages[s];
        double uj = ((double)(g->synops + g->kernel_ops) * t.energy_synop_pj +
                     (double)g->neuron_active * t.energy_neuron_active_pj +
                     (double)(g->neuron_updates - g->neuron_active) * t.energy_neuron_idle_pj +
                     (double)g->spikes * t.energy_spike_local_pj + (double)g->core_hops * t.energy_core_hop_pj +
                     (double)g->chip_link_fj * 1e-3) / n * 1e-6;
        if (r) {
            cJSON *x = cJSON_CreateObject();
            cJSON_AddStringToObject(x, "name", b->stages[s].name);
            cJSON_AddStringToObject(x, "kind", coord_kind_name(b->stages[s].kind));
            cJSON_AddNumberToObject(x, "synops", (double)(g->synops + g->kernel_ops) / n);
            cJSON_AddNumberToObject(x, "neuron_updates", (double)g->neuron_updates / n);
            cJSON_AddNumberToObject(x, "spikes", (double)g->spikes / n);
            cJSON_AddNumberToObject(x, "dynamic_uj", uj);
            cJSON_AddItemToArray(layers, x);
        } else {
            printf("%-32.32s %-7s %10.0f %10.0f %10.0f %9.3f %8.1f%%\n", b->stages[s].name,
                   coord_kind_name(b->stages[s].kind), (double)(g->synops + g->kernel_ops) / n,
                   (double)g->neuron_updates / n, (double)g->spikes / n, uj, e.dyn_uj > 0 ? 100 * uj / e.dyn_uj : 0);
        }
    }
    if (r) {
        cJSON_AddStringToObject(r, "bundle", o->model);
        cJSON_AddStringToObject(r, "target", b->target);
        cJSON_AddNumberToObject(r, "n_inputs", n);
        cJSON *c = cJSON_AddObjectToObject(r, "energy_uj_per_inference");
        cJSON_AddNumberToObject(c, "synaptic", e.dyn_synop_uj);
        cJSON_AddNumberToObject(c, "neuron", e.dyn_neuron_uj);
        cJSON_AddNumberToObject(c, "spike", e.dyn_spike_uj);
        cJSON_AddNumberToObject(c, "routing", e.dyn_route_uj);
        cJSON_AddNumberToObject(c, "dynamic", e.dyn_uj);
        cJSON_AddNumberToObject(c, "static", e.static_uj);
        cJSON_AddNumberToObject(c, "total", e.total_uj);
        cJSON_AddNumberToObject(c, "paper_style", e.paper_uj);
        cJSON_AddNumberToObject(r, "static_power_w", static_w);
        cJSON_AddNumberToObject(r, "tick_ns", e.tick_ns);
        cJSON_AddNumberToObject(r, "ticks_per_inference", b->ticks);
        cJSON_AddNumberToObject(r, "compute_us", e.compute_us);
        cJSON_AddNumberToObject(r, "busiest_link_s", e.link_s);
        cJSON_AddNumberToObject(r, "latency_us", e.latency_us);
        cJSON_AddNumberToObject(r, "cores_used", b->n_cores - 1);
        cJSON_AddNumberToObject(r, "chips_used", used);
        cJSON_AddNumberToObject(r, "chips", b->n_chips);
        cJSON_AddNumberToObject(r, "neuron_utilization", util);
        cJSON *mj = cJSON_AddObjectToObject(r, "messages_per_inference");
        cJSON_AddNumberToObject(mj, "same_core", (double)msg.msgs_local / n);
        cJSON_AddNumberToObject(mj, "other_core_same_chip", (double)msg.msgs_core / n);
        cJSON_AddNumberToObject(mj, "core_hops", (double)msg.core_hops / n);
        cJSON_AddNumberToObject(mj, "other_chip", (double)msg.msgs_chip / n);
        cJSON_AddNumberToObject(mj, "chip_hops", (double)msg.chip_hops / n);
        cJSON *cj = cJSON_AddArrayToObject(r, "per_chip"); /* "chips" is the system's count */
        for (int c = 0; c < b->n_chips; c++) {
            stc_core_counters_t a;
            int nc = chip_counters(b, j.cores, c, &a);
            if (!nc) continue; /* a chip without cores: nothing to say */
            cJSON *x = cJSON_CreateObject();
            cJSON_AddNumberToObject(x, "chip", c);
            cJSON_AddNumberToObject(x, "cores", nc);
            cJSON_AddNumberToObject(x, "synops", (double)(a.synops + a.kernel_ops) / n);
            cJSON_AddNumberToObject(x, "neuron_updates", (double)a.neuron_updates / n);
            cJSON_AddNumberToObject(x, "spikes", (double)a.spikes / n);
            cJSON_AddNumberToObject(x, "messages_off_chip", (double)a.msgs_chip / n);
            cJSON_AddItemToArray(cj, x);
        }
        char *s = cJSON_PrintUnformatted(r);
        puts(s);
        free(s);
        cJSON_Delete(r);
    } else {
        printf("\nenergy per inference (%s figures; `stc-coord target %s` shows each one's source or assumption)\n",
               b->target, b->target);
        printf("  synaptic ops   %9.3f uJ\n  neuron updates %9.3f uJ\n  spikes         %9.3f uJ\n"
               "  routing        %9.3f uJ\n  dynamic        %9.3f uJ\n  static         %9.3f uJ  (%.3f W x %d "
               "chip%s x %.1f us)\n  total          %9.3f uJ\n",
               e.dyn_synop_uj, e.dyn_neuron_uj, e.dyn_spike_uj, e.dyn_route_uj, e.dyn_uj, e.static_uj, t.static_power_w,
               used, used == 1 ? "" : "s", e.latency_us, e.total_uj);
        printf("  paper-style    %9.3f uJ  (E_MAC 4.6 pJ x first-layer MACs + E_AC 0.9 pJ x the other synaptic\n"
               "                               and attention operations; 45 nm figures)\n",
               e.paper_uj);
        if (e.latency_us > e.compute_us)
            printf("latency        %.1f us per inference: the busiest chip-to-chip link's time (its spikes at the\n"
                   "               rates of the placement over its bandwidth); compute takes %d ticks x %.1f ns = "
                   "%.1f us\n", e.latency_us, b->ticks, e.tick_ns, e.compute_us);
        else
            printf("latency        %.1f us per inference: %d ticks x %.1f ns (busiest core + barrier)\n",
                   e.latency_us, b->ticks, e.tick_ns);
        printf("utilization    %.1f%% of the neurons of %d cores\n", 100 * util, b->n_cores - 1);
        printf("messages       per inference: %.0f to the same core, %.0f to another core of the chip "
               "(%.2f mesh hops each), %.0f to another chip (%.2f links each%s%s)\n",
               (double)msg.msgs_local / n, (double)msg.msgs_core / n,
               msg.msgs_core ? (double)msg.core_hops / (double)msg.msgs_core : 0.0, (double)msg.msgs_chip / n,
               msg.msgs_chip ? (double)msg.chip_hops / (double)msg.msgs_chip : 0.0, b->topology[0] ? " on " : "",
               b->topology);
        if (used > 1) {
            printf("\n%-6s %6s %12s %12s %10s %12s\n", "chip", "cores", "synops", "updates", "spikes", "off-chip");
            for (int c = 0; c < b->n_chips; c++) {
                stc_core_counters_t a;
                int nc = chip_counters(b, j.cores, c, &a);
                if (!nc) continue;
                printf("%-6d %6d %12.0f %12.0f %10.0f %12.0f\n", c, nc, (double)(a.synops + a.kernel_ops) / n,
                       (double)a.neuron_updates / n, (double)a.spikes / n, (double)a.msgs_chip / n);
            }
        }
    }
out:
    simjob_free(&j);
    stc_input_destroy(&in);
    stc_bundle_destroy(&b);
    return rc;
}
