/* cmd_run.c - `stc-coord run --float | --int`: images through the float or the integer interpreter.
 *
 * --int quantizes the graph after the -O level (default -O2, as compile does;
 * a Spike IR file that is already quantized runs as it is)
 * with the calibration images compile would use (--calib X, else the first
 * 64 training images of the data set, else the first 64 inputs) and runs the
 * integer interpreter, the golden model of the chip (docs/backend.md).
 *
 * Inputs come from --input (npy or idx, with --labels) or --dataset.  Images
 * are spread over worker threads, each with its own interpreter (the graph is
 * shared read-only); results land by index, so the output does not depend on
 * the thread count.  --json prints per input the logits, the class and the
 * spike count of every LIF layer keyed by its PyTorch module name; --trace
 * writes every LIF's charge for the parity tests.
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define QUANT_CALIB_IMAGES 64

typedef struct {
    const stc_ir_t *ir;
    const stc_input_t *in;
    int64_t n;
    int nout;
    float *logits;          /* n * nout */
    int64_t *counts;        /* n * n_nodes */
    int64_t *acs, *macs;    /* n * n_nodes: synaptic operations (stc_interp_ops) */
    float **trace;          /* per node: n * T * numel, or NULL */
    float **force;          /* per node: spikes to impose, n * T * numel, or NULL */
    atomic_llong next, done;
    atomic_int failed;
    stc_err_t err;
    pthread_mutex_t lock;
    int int_mode;           /* the integer interpreter (ir is quantized) */
} job_t;

typedef struct {
    job_t *job;
    int64_t index;
} trace_ud_t;

static void on_lif(void *ud, const stc_node_t *node, int t, const float *h, float *s) {
    trace_ud_t *u = ud;
    job_t *j = u->job;
    int64_t m = (int64_t)node->shape.c * node->shape.h * node->shape.w;
    int64_t at = ((u->index * j->ir->T) + t) * m;
    if (j->trace && j->trace[node->id]) memcpy(j->trace[node->id] + at, h, (size_t)m * sizeof(float));
    if (j->force && j->force[node->id])
        for (int64_t i = 0; i < m; i++) s[i] = j->force[node->id][at + i] != 0.0f ? 1.0f : 0.0f;
}

static void worker_done(job_t *j, const stc_err_t *err) {
    if (!err->status) return;
    pthread_mutex_lock(&j->lock);
    if (!atomic_exchange(&j->failed, 1)) j->err = *err;
    pthread_mutex_unlock(&j->lock);
}

static void *worker_int(job_t *j) {
    stc_err_t err = {0};
    stc_qinterp_t *ip = stc_qinterp_create(j->ir, &err);
    int64_t per = j->in->c * j->in->h * j->in->w, nn = j->ir->n_nodes;
    while (ip) {
        int64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->failed)) break;
        if (stc_qinterp_run(ip, j->in->data + i * per, j->logits + i * j->nout, j->counts + i * nn, NULL, NULL,
                            &err))
            break;
        stc_qinterp_ops(ip, j->acs + i * nn, j->macs + i * nn);
        atomic_fetch_add(&j->done, 1);
    }
    worker_done(j, &err);
    stc_qinterp_destroy(&ip);
    return NULL;
}

static void *worker(void *arg) {
    job_t *j = arg;
    if (j->int_mode) return worker_int(j);
    stc_err_t err = {0};
    stc_interp_t *ip = stc_interp_create(j->ir, &err);
    int64_t per = j->in->c * j->in->h * j->in->w;
    for (;;) {
        if (!ip) break;
        int64_t i = atomic_fetch_add(&j->next, 1);
        if (i >= j->n || atomic_load(&j->failed)) break;
        trace_ud_t ud = {j, i};
        if (stc_interp_run(ip, j->in->data + i * per, j->logits + i * j->nout,
                           j->counts + i * j->ir->n_nodes, (j->trace || j->force) ? on_lif : NULL, &ud, &err))
            break;
        stc_interp_ops(ip, j->acs + i * j->ir->n_nodes, j->macs + i * j->ir->n_nodes);
        atomic_fetch_add(&j->done, 1);
    }
    worker_done(j, &err);
    stc_interp_destroy(&ip);
    return NULL;
}

/* npy v1.0 float32 array [n, T, m] */
static int write_npy(const char *path, const float *data, int64_t n, int T, int64_t m) {
    FILE *f = fopen(path, "wb");
    if (!f) return -1;
    char hdr[128];
    int len = snprintf(hdr, sizeof hdr, "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %d, %lld), }",
                       (long long)n, T, (long long)m);
    int total = 10 + len + 1;
    int pad = (64 - total % 64) % 64;
    unsigned short hl = (unsigned short)(len + pad + 1);
    fwrite("\x93NUMPY\x01\x00", 1, 8, f);
    fputc(hl & 0xff, f);
    fputc(hl >> 8, f);
    fwrite(hdr, 1, (size_t)len, f);
    for (int i = 0; i < pad; i++) fputc(' ', f);
    fputc('\n', f);
    fwrite(data, sizeof(float), (size_t)(n * T * m), f);
    int bad = ferror(f);
    return (fclose(f) || bad) ? -1 : 0;
}

/* --int: quantize as compile does (calibration: --calib X, else the first 64
 * training images of the data set, else the first 64 of the inputs). */
static int quantize_for_int(const coord_opts_t *o, coord_model_t *m, const stc_input_t *in, stc_err_t *err) {
    stc_input_t *cal = NULL;
    const float *images = in->data;
    int n = in->n < QUANT_CALIB_IMAGES ? (int)in->n : QUANT_CALIB_IMAGES;
    if (o->calib || o->dataset || m->cfg.dataset[0]) {
        cal = coord_calib_images(o, m, err);
        if (!cal) return 1;
        images = cal->data;
        n = (int)cal->n;
    }
    stc_pass_opts_t po = {0};
    po.dump_after = o->dump_after;
    po.dump_to = stderr;
    po.dump_weights = o->dump_weights;
    po.verbose = stc_log_enabled(STC_LOG_INFO);
    po.weight_bits = o->weight_bits;
    po.calib = images;
    po.n_calib = n;
    po.threads = coord_workers(o, n, stc_interp_bytes(m->ir));
    int rc = stc_pass_pipeline(m->ir, "quantize", &po, err) ? 1 : 0;
    stc_input_destroy(&cal);
    return rc;
}

int cmd_run(coord_opts_t *o) {
    stc_err_t err = {0};
    if (coord_is_bundle(o->model)) return cmd_run_bundle(o);
    if (o->float_mode == o->int_mode) {
        fprintf(stderr, "stc-coord: error: run needs one engine: --float (the float interpreter) or --int (the "
                        "integer interpreter on the quantized graph); a compiled MODEL.stc runs on the chip "
                        "simulator\n");
        return 2;
    }
    if (o->int_mode && (o->trace || o->force)) {
        fprintf(stderr, "stc-coord: error: --trace and --force-spikes work on the float interpreter's LIF "
                        "charge; use them with --float\n");
        return 2;
    }
    /* --int without a level: -O2 as compile does, unless the model is a quantized .stcir */
    int default_level = o->int_mode && !o->passes;
    if (!o->input && !o->dataset) {
        fprintf(stderr, "stc-coord: error: run needs --input X (npy or idx), --dataset NAME (its test set), "
                        "or both (X normalized as NAME's images)\n");
        return 2;
    }
    stc_input_norm_t ds_norm;
    if (o->dataset && stc_input_dataset_norm(o->dataset, &ds_norm, &err)) {
        fprintf(stderr, "stc-coord: error: --dataset: %s\n", err.msg);
        return 2;
    }
    coord_model_t m;
    if (coord_load_model(o, &m, &err)) {
        coord_fail(&err);
        coord_model_free(&m);
        return 1;
    }
    if (default_level && !m.ir->quant) {
        o->passes = "-O2";
        if (coord_passes(o, &m, &err)) {
            coord_fail(&err);
            coord_model_free(&m);
            return 1;
        }
    }
    const stc_ir_t *ir = m.ir;
    const stc_node_t *inode = &ir->nodes[0];
    stc_input_norm_t norm, *np = coord_norm(m.cfg.n_norm, m.cfg.norm_mean, m.cfg.norm_std, &norm);
    /* --input X --dataset NAME: X holds NAME's raw images; normalize as the data set does
     * unless the model's config says otherwise */
    if (o->input && o->dataset && !np) np = &ds_norm;
    stc_input_t *in = NULL;
    if (o->dataset && !o->input) {
        if (stc_input_dataset(o->dataset, "test", np, o->limit, &in, &err)) in = NULL;
    } else {
        /* .npy floats are taken as the model expects them; idx bytes get the config's normalization */
        in = stc_input_load(o->input, o->labels, np, o->limit, &err);
    }
    if (!in) {
        coord_fail(&err);
        coord_model_free(&m);
        return 1;
    }
    if (in->c != inode->shape.c || in->h != inode->shape.h || in->w != inode->shape.w) {
        fprintf(stderr, "stc-coord: error: %s: images are [%lld,%lld,%lld], the model expects [%d,%d,%d] "
                "(set --img-size / in_channels in the config if the model was trained on this size)\n",
                o->input ? o->input : o->dataset, (long long)in->c, (long long)in->h, (long long)in->w,
                inode->shape.c, inode->shape.h, inode->shape.w);
        stc_input_destroy(&in);
        coord_model_free(&m);
        return 1;
    }
    if (o->int_mode && quantize_for_int(o, &m, in, &err)) {
        coord_fail(&err);
        stc_input_destroy(&in);
        coord_model_free(&m);
        return 1;
    }
    const char *engine = o->int_mode ? "integer interpreter" : "float interpreter";
    job_t j;
    memset(&j, 0, sizeof j);
    j.ir = ir;
    j.int_mode = o->int_mode;
    j.in = in;
    j.n = in->n;
    j.nout = ir->nodes[ir->n_nodes - 1].shape.c;
    j.logits = calloc((size_t)(j.n * j.nout), sizeof(float));
    j.counts = calloc((size_t)(j.n * ir->n_nodes), sizeof(int64_t));
    j.acs = calloc((size_t)(j.n * ir->n_nodes), sizeof(int64_t));
    j.macs = calloc((size_t)(j.n * ir->n_nodes), sizeof(int64_t));
    pthread_mutex_init(&j.lock, NULL);
    int rc = 1;
    if (!j.logits || !j.counts || !j.acs || !j.macs) {
        fprintf(stderr, "stc-coord: error: out of memory for %lld results\n", (long long)j.n);
        goto out;
    }
    if (o->trace) {
        if (mkdir(o->trace, 0777) && errno != EEXIST) {
            fprintf(stderr, "stc-coord: error: --trace %s: cannot create directory: %s\n", o->trace,
                    strerror(errno));
            goto out;
        }
        j.trace = calloc((size_t)ir->n_nodes, sizeof(float *));
        for (int i = 0; j.trace && i < ir->n_nodes; i++)
            if (ir->nodes[i].op == STC_OP_LIF) {
                int64_t mm = (int64_t)ir->nodes[i].shape.c * ir->nodes[i].shape.h * ir->nodes[i].shape.w;
                j.trace[i] = malloc((size_t)(j.n * ir->T * mm) * sizeof(float));
                if (!j.trace[i]) {
                    fprintf(stderr, "stc-coord: error: --trace: out of memory (use fewer inputs)\n");
                    goto out;
                }
            }
    }
    if (o->force) {
        /* DIR/<lif name>.npy: float32 spikes [N, T, C*H*W] to impose (teacher forcing) */
        j.force = calloc((size_t)ir->n_nodes, sizeof(float *));
        for (int i = 0; j.force && i < ir->n_nodes; i++) {
            const stc_node_t *nd = &ir->nodes[i];
            if (nd->op != STC_OP_LIF) continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s.npy", o->force, nd->name);
            stc_input_t *fs = stc_input_load(path, NULL, NULL, 0, &err);
            int64_t want = j.n * ir->T * nd->shape.c * nd->shape.h * nd->shape.w;
            if (!fs || fs->n * fs->c * fs->h * fs->w != want) {
                if (fs) stc_err_set(&err, STC_E_FORMAT, "%s: holds %lld values, expected %lld (N x T x neurons)",
                                    path, (long long)(fs->n * fs->c * fs->h * fs->w), (long long)want);
                coord_fail(&err);
                stc_input_destroy(&fs);
                goto out;
            }
            j.force[i] = fs->data;
            fs->data = NULL;
            stc_input_destroy(&fs);
        }
    }
    int threads = o->threads ? o->threads : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1) threads = 1;
    if (threads > 64) threads = 64;
    if (threads > j.n) threads = (int)j.n;
    pthread_t tid[64];
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (int i = 0; i < threads; i++) pthread_create(&tid[i], NULL, worker, &j);
    int show = (o->progress || (isatty(2) && !o->json)) && !o->no_progress && j.n > 1;
    while (show && atomic_load(&j.done) < j.n && !atomic_load(&j.failed)) {
        struct timespec ts = {0, 200 * 1000 * 1000};
        nanosleep(&ts, NULL);
        int64_t d = atomic_load(&j.done), correct = 0;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        coord_progress(d, j.n, (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9, correct, 0);
    }
    for (int i = 0; i < threads; i++) pthread_join(tid[i], NULL);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9;
    if (show) {
        coord_progress(atomic_load(&j.done), j.n, secs, 0, 0);
        fputc('\n', stderr);
    }
    if (atomic_load(&j.failed)) {
        coord_fail(&j.err);
        goto out;
    }
    /* paper-style energy (E_MAC = 4.6 pJ, E_AC = 0.9 pJ: Horowitz 2014, 45 nm, as the
     * Spike-driven Transformer papers use), per inference, from counted operations */
    double mac_per = 0, ac_per = 0;
    for (int64_t i = 0; i < j.n * ir->n_nodes; i++) {
        mac_per += (double)j.macs[i];
        ac_per += (double)j.acs[i];
    }
    mac_per /= (double)j.n;
    ac_per /= (double)j.n;
    double uj = (mac_per * 4.6 + ac_per * 0.9) * 1e-6;
    int64_t correct = 0;
    for (int64_t i = 0; i < j.n; i++)
        if (in->labels && coord_argmax(j.logits + i * j.nout, j.nout) == in->labels[i]) correct++;
    if (o->trace) {
        char path[4096];
        for (int i = 0; i < ir->n_nodes; i++)
            if (j.trace[i]) {
                int64_t mm = (int64_t)ir->nodes[i].shape.c * ir->nodes[i].shape.h * ir->nodes[i].shape.w;
                snprintf(path, sizeof path, "%s/%s.npy", o->trace, ir->nodes[i].name[0] ? ir->nodes[i].name : "lif");
                if (write_npy(path, j.trace[i], j.n, ir->T, mm)) {
                    fprintf(stderr, "stc-coord: error: %s: cannot write trace\n", path);
                    goto out;
                }
            }
    }
    if (o->json) {
        cJSON *r = cJSON_CreateObject();
        cJSON_AddStringToObject(r, "model", o->model);
        cJSON_AddStringToObject(r, "engine", o->int_mode ? "int" : "float");
        if (o->int_mode) cJSON_AddNumberToObject(r, "weight_bits", o->weight_bits ? o->weight_bits : 8);
        cJSON_AddNumberToObject(r, "T", ir->T);
        cJSON_AddNumberToObject(r, "n_inputs", (double)j.n);
        cJSON_AddNumberToObject(r, "seconds", secs);
        if (in->labels) cJSON_AddNumberToObject(r, "accuracy", (double)correct / (double)j.n);
        if (m.cfg.pytorch_accuracy >= 0) cJSON_AddNumberToObject(r, "pytorch_accuracy", m.cfg.pytorch_accuracy);
        cJSON *en = cJSON_AddObjectToObject(r, "energy_paper_style");
        cJSON_AddNumberToObject(en, "macs_per_inference", mac_per);
        cJSON_AddNumberToObject(en, "acs_per_inference", ac_per);
        cJSON_AddNumberToObject(en, "e_mac_pj", 4.6);
        cJSON_AddNumberToObject(en, "e_ac_pj", 0.9);
        cJSON_AddNumberToObject(en, "uj_per_inference", uj);
        cJSON *fr = cJSON_AddObjectToObject(r, "firing_rates");
        for (int k = 0; k < ir->n_nodes; k++)
            if (ir->nodes[k].op == STC_OP_LIF) {
                double tot = 0;
                for (int64_t i = 0; i < j.n; i++) tot += (double)j.counts[i * ir->n_nodes + k];
                double cells = (double)ir->nodes[k].shape.c * ir->nodes[k].shape.h * ir->nodes[k].shape.w;
                cJSON_AddNumberToObject(fr, ir->nodes[k].name, tot / ((double)j.n * cells * ir->T));
            }
        cJSON *arr = cJSON_AddArrayToObject(r, "inputs");
        for (int64_t i = 0; i < j.n; i++) {
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "index", (double)i);
            cJSON_AddNumberToObject(e, "class", coord_argmax(j.logits + i * j.nout, j.nout));
            if (in->labels) cJSON_AddNumberToObject(e, "label", in->labels[i]);
            cJSON_AddItemToObject(e, "logits", cJSON_CreateFloatArray(j.logits + i * j.nout, j.nout));
            cJSON *sc = cJSON_AddObjectToObject(e, "spike_counts");
            for (int k = 0; k < ir->n_nodes; k++)
                if (ir->nodes[k].op == STC_OP_LIF)
                    cJSON_AddNumberToObject(sc, ir->nodes[k].name, (double)j.counts[i * ir->n_nodes + k]);
            cJSON_AddItemToArray(arr, e);
        }
        char *s = cJSON_PrintUnformatted(r);
        puts(s);
        free(s);
        cJSON_Delete(r);
    } else {
        if (j.n <= 20) {
            for (int64_t i = 0; i < j.n; i++) {
                int c = coord_argmax(j.logits + i * j.nout, j.nout);
                printf("input %lld: class %d", (long long)i, c);
                if (in->labels) printf(" (label %d)", in->labels[i]);
                printf("  logits");
                for (int k = 0; k < j.nout && k < 10; k++) printf(" %.4f", (double)j.logits[i * j.nout + k]);
                printf("%s\n", j.nout > 10 ? " ..." : "");
            }
        }
        printf("%lld images in %.1f s (%.1f img/s, %d threads), %s, T=%d\n\n", (long long)j.n, secs,
               j.n / secs, threads, engine, ir->T);
        /* spike statistics: per LIF layer, mean spikes per inference and firing rate */
        printf("%-34s %9s %14s %8s\n", "LIF layer", "neurons", "spikes/image", "rate");
        double all = 0;
        for (int k = 0; k < ir->n_nodes; k++) {
            const stc_node_t *nd = &ir->nodes[k];
            if (nd->op != STC_OP_LIF) continue;
            double tot = 0;
            for (int64_t i = 0; i < j.n; i++) tot += (double)j.counts[i * ir->n_nodes + k];
            double cells = (double)nd->shape.c * nd->shape.h * nd->shape.w;
            all += tot;
            printf("%-34s %9.0f %14.1f %7.2f%%\n", nd->name, cells, tot / j.n, 100.0 * tot / (j.n * cells * ir->T));
        }
        printf("%-34s %9s %14.1f\n\n", "all layers", "", all / j.n);
        printf("energy       %.2f uJ per inference, paper-style: %.2fM MAC x 4.6 pJ + %.2fM AC x 0.9 pJ\n"
               "             (45 nm figures the SNN papers use; the chip's own model: compile, then profile)\n",
               uj, mac_per / 1e6, ac_per / 1e6);
        if (in->labels && o->int_mode)
            printf("accuracy     %.2f%% (%lld/%lld)  stc integer IR, %d-bit weights\n", 100.0 * correct / j.n,
                   (long long)correct, (long long)j.n, o->weight_bits ? o->weight_bits : 8);
        else if (in->labels)
            printf("accuracy     %.2f%% (%lld/%lld)  stc float IR\n", 100.0 * correct / j.n, (long long)correct,
                   (long long)j.n);
        if (m.cfg.pytorch_accuracy >= 0)
            printf("accuracy     %.2f%%               PyTorch, measured at training (%d test images)\n",
                   100.0 * m.cfg.pytorch_accuracy, m.cfg.pytorch_images);
    }
    rc = 0;
out:
    if (j.trace)
        for (int i = 0; i < ir->n_nodes; i++) free(j.trace[i]);
    free(j.trace);
    if (j.force)
        for (int i = 0; i < ir->n_nodes; i++) free(j.force[i]);
    free(j.force);
    free(j.logits);
    free(j.counts);
    free(j.acs);
    free(j.macs);
    pthread_mutex_destroy(&j.lock);
    stc_input_destroy(&in);
    coord_model_free(&m);
    return rc;
}
