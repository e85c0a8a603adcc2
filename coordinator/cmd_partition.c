/* cmd_partition.c - `stc-coord partition`: place a bundle's cores onto the chips of a topology.
 *
 * Firing rates come from running the chip simulator on calibration images
 * (--calibrate X, or --dataset NAME's test images) or, without them, from a
 * static estimate; they weight the placement graph (partitioner/pgraph.c).
 * One strategy (stc, metis, scotch, greedy) or all of them for comparison;
 * the chosen placement is written into the bundle (-o FILE, or in place) with
 * the topology's name, the topology file's text when it came from one (a node
 * on another host has no copy of the file) and the traffic the placement
 * puts on each link, and the report gives the traffic figures.  What is
 * computed never changes: only the chip of each core does.
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"
#include "stc_partition.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

#define CALIBRATE_MAX 64
#define PICTURE_MAX_CHIPS 4096 /* Graphviz takes minutes and gigabytes beyond (256x256: 29 s, 3.5 GB) */

typedef stc_status_t (*place_fn)(const stc_pgraph_t *, const stc_topology_t *, int, int *, stc_err_t *);

static const struct {
    const char *name;
    place_fn fn;
} strategies[] = {
    {"stc", stc_place_stc}, {"metis", stc_place_metis}, {"scotch", stc_place_scotch}, {"greedy", stc_place_greedy}};
#define N_STRATEGIES 4

/* Stage firing rates (spikes per neuron per inference) measured by the
 * simulator on the calibration images, into b->stage_rate; what they were
 * measured on into o->rates_from and o->rate_images. */
static int measure(coord_opts_t *o, stc_bundle_t *b) {
    stc_err_t err = {0};
    stc_input_norm_t norm, *np = coord_norm(b->n_norm, b->norm_mean, b->norm_std, &norm);
    int64_t limit = o->limit && o->limit < CALIBRATE_MAX ? o->limit : CALIBRATE_MAX;
    stc_input_t *in = NULL;
    if (o->calib) {
        in = stc_input_load(o->calib, NULL, np, limit, &err);
    } else {
        stc_input_norm_t dn;
        if (!np && !stc_input_dataset_norm(o->dataset, &dn, &err)) np = &dn;
        if (stc_input_dataset(o->dataset, "test", np, limit, &in, &err)) in = NULL;
    }
    /* the option the images came from, in every message about them */
    char opt[300];
    snprintf(opt, sizeof opt, "%s %s", o->calib ? "--calibrate" : "--dataset", o->calib ? o->calib : o->dataset);
    if (!in) {
        stc_err_prefix(&err, "%s", opt);
        coord_fail(&err);
        return 1;
    }
    if (in->c != b->in_c || in->h != b->in_h || in->w != b->in_w) {
        coord_status_end();
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: %s: images are [%lld,%lld,%lld], the bundle takes [%d,%d,%d]\n", opt,
                (long long)in->c, (long long)in->h, (long long)in->w, b->in_c, b->in_h, b->in_w);
        stc_input_destroy(&in);
        return 1;
    }
    int64_t *tot = calloc((size_t)b->n_stages, sizeof *tot);
    double *rate = malloc((size_t)b->n_stages * sizeof *rate);
    int rc = !tot || !rate;
    if (rc) fprintf(stderr, "stc-coord: error: out of memory\n");
    if (!rc) rc = coord_sim_stage_spikes(o, b, in, "measuring firing rates", tot);
    for (int k = 0; k < b->n_stages && !rc; k++) {
        const stc_stage_t *g = &b->stages[k];
        rate[k] = (double)tot[k] / ((double)in->n * g->c * g->h * g->w);
    }
    if (!rc) {
        free(b->stage_rate);
        b->stage_rate = rate;
        rate = NULL;
        o->rate_images = (int)in->n;
        snprintf(o->rates_from, sizeof o->rates_from, "measured by the chip simulator on %lld %s%s%s",
                 (long long)in->n, o->calib ? "images of " : "test images of ", o->calib ? o->calib : o->dataset,
                 o->limit > CALIBRATE_MAX ? " (--limit: at most 64)" : "");
    }
    free(tot);
    free(rate);
    stc_input_destroy(&in);
    return rc;
}

/* The topology of --topology: a spec, or a file (the rule of stc_topology_parse)
 * read once, so that the text the bundle carries is the text placed on. */
static stc_topology_t *load_topology(const char *spec, const stc_target_t *t, char **json, stc_err_t *err) {
    size_t len = strlen(spec);
    *json = NULL;
    if (!strchr(spec, '/') && !(len > 5 && !strcmp(spec + len - 5, ".json")))
        return stc_topology_parse(spec, t->chip_link_spikes_per_s, t->energy_chip_hop_pj, err);
    unsigned char *data = NULL;
    size_t n = 0;
    if (stc_read_file(spec, STC_BUNDLE_MAX_TOPOLOGY_JSON, &data, &n, err)) return NULL;
    if (memchr(data, 0, n)) {
        free(data);
        stc_err_set(err, STC_E_FORMAT, "%s: the topology file contains a NUL byte, expected JSON text", spec);
        return NULL;
    }
    stc_topology_t *topo =
        stc_topology_parse_json((const char *)data, n, spec, t->chip_link_spikes_per_s, t->energy_chip_hop_pj, err);
    if (topo) *json = (char *)data; /* stc_read_file ends it with a NUL */
    else free(data);
    return topo;
}

/* The placement goes into the bundle: each core's chip, and its place on the chip's core mesh;
 * the topology (its file's text, or NULL for a spec) and the expected spikes per inference
 * on each of its links (stc_topology_n_links entries).  The bundle takes both arrays over. */
static void apply(stc_bundle_t *b, const stc_target_t *t, const stc_topology_t *topo, const int *chip_of,
                  char **topo_json, double **link_load) {
    int chips = stc_topology_chips(topo);
    int *next = calloc((size_t)chips, sizeof *next);
    for (int c = 1; c < b->n_cores; c++) {
        int ch = chip_of[c - 1], k = next ? next[ch]++ : 0;
        b->cores[c].chip = ch;
        b->cores[c].x = k % t->core_mesh[0];
        b->cores[c].y = k / t->core_mesh[0];
    }
    free(next);
    b->n_chips = chips; /* the system's chips; static power counts those that hold cores (node/profile.c) */
    snprintf(b->topology, sizeof b->topology, "%s", stc_topology_name(topo));
    free(b->topology_json); /* a bundle placed before */
    b->topology_json = *topo_json;
    *topo_json = NULL;
    free(b->link_traffic);
    b->n_links = stc_topology_n_links(topo);
    b->link_traffic = b->n_links ? *link_load : NULL;
    if (b->n_links) *link_load = NULL;
}

/* The formats --picture writes, by the file name's extension (any case). */
static const char *const picture_ext[] = {".png", ".svg", ".pdf", ".dot"};

static int picture_format(const char *path) {
    size_t n = strlen(path);
    for (int i = 0; i < 4; i++)
        if (n > 4 && !strcasecmp(path + n - 4, picture_ext[i])) return i;
    return -1;
}

int coord_picture_check(const char *path) {
    fflush(stdout);
    if (picture_format(path) < 0) {
        fprintf(stderr, "stc-coord: error: --picture %s: expected a file name ending in .png, .svg, .pdf or .dot\n",
                path);
        return 2;
    }
    char dir[4096];
    const char *slash = strrchr(path, '/');
    if (!slash) snprintf(dir, sizeof dir, ".");
    else snprintf(dir, sizeof dir, "%.*s", slash == path ? 1 : (int)(slash - path), path);
    if (access(dir, W_OK | X_OK)) { /* found now, not after the placement */
        fprintf(stderr, "stc-coord: error: --picture %s: cannot write into %s (%s)\n", path, dir, strerror(errno));
        return 2;
    }
    return 0;
}

/* A private temporary file under $TMPDIR (or /tmp when it is unset or cannot
 * take one): its name in buf, open for writing. */
static FILE *temp_file(char *buf, size_t n) {
    const char *dir = getenv("TMPDIR");
    if (!dir || !*dir) dir = "/tmp";
    snprintf(buf, n, "%s/stc-picture-XXXXXX", dir); /* mkstemp's template */
    int fd = mkstemp(buf);
    if (fd < 0 && strcmp(dir, "/tmp")) {
        snprintf(buf, n, "/tmp/stc-picture-XXXXXX");
        fd = mkstemp(buf);
    }
    if (fd < 0) return NULL;
    FILE *f = fdopen(fd, "w");
    if (!f) {
        close(fd);
        unlink(buf);
    }
    return f;
}

/* Copy file `from` to `to` (the user's picture, written only once it is complete). */
static int copy_file(const char *from, const char *to) {
    FILE *in = fopen(from, "rb"), *out = in ? fopen(to, "wb") : NULL;
    char buf[65536];
    size_t k;
    int bad = !in || !out;
    while (!bad && (k = fread(buf, 1, sizeof buf, in)) > 0) bad = fwrite(buf, 1, k, out) != k;
    bad |= in && ferror(in);
    if (in) fclose(in);
    if (out) bad |= fclose(out) != 0;
    return bad;
}

/* The placement as a picture: chips where the topology puts them, filled by
 * how busy they are, links drawn as thick as their traffic.  The graph goes
 * to a private temporary file and Graphviz's neato (fixed positions) renders
 * it into another, copied to `path` once complete; P.dot is the graph itself.
 * No file but `path` is ever written or removed. */
/* A link's spikes per inference in at most 5 characters, to fit between two
 * chips: 2453, 598k, 1.30M, 12.4M, 3.1G. */
static void short_count(char *buf, size_t cap, double v) {
    if (v < 9999.5) snprintf(buf, cap, "%.0f", v);
    else if (v < 999.5e3) snprintf(buf, cap, "%.0fk", v / 1e3);
    else if (v < 9.995e6) snprintf(buf, cap, "%.2fM", v / 1e6);
    else if (v < 99.95e6) snprintf(buf, cap, "%.1fM", v / 1e6);
    else if (v < 999.5e6) snprintf(buf, cap, "%.0fM", v / 1e6);
    else snprintf(buf, cap, "%.1fG", v / 1e9);
}

static int picture(const char *path, const stc_topology_t *topo, const stc_pgraph_t *g, const int *chip_of,
                   int cores_per_chip, const double *link_load) {
    int chips = stc_topology_chips(topo), dims[STC_TOPO_MAX_DIMS] = {1, 1, 1};
    int fmt = picture_format(path);
    stc_topology_dims(topo, dims);
    int *cores = calloc((size_t)chips, sizeof *cores);
    double *work = calloc((size_t)chips, sizeof *work);
    if (!cores || !work) {
        free(cores), free(work);
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: out of memory\n");
        return 1;
    }
    for (int i = 0; i < g->n; i++) cores[chip_of[i]]++, work[chip_of[i]] += g->work[i];
    double wmax = 0, lmax = 0;
    for (int c = 0; c < chips; c++) wmax = work[c] > wmax ? work[c] : wmax;
    int nl = stc_topology_n_links(topo);
    for (int l = 0; l < nl; l++) lmax = link_load[l] > lmax ? link_load[l] : lmax;
    char gv[4200] = "", img[4200] = "";
    FILE *f = fmt == 3 ? fopen(path, "w") : temp_file(gv, sizeof gv);
    if (!f) {
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: %s: cannot write the picture (%s)\n", fmt == 3 ? path : gv,
                strerror(errno));
        free(cores), free(work);
        return 1;
    }
    /* chip (x, y, z) at (x * 1.6, -y * 1.2) inches, a 3D system's layers side by side; a link between
     * neighbours is a straight line, any other (a torus's wrap-around, between layers or boards) goes
     * from its first chip down into the channel below its row, along it to the column of its second chip,
     * and up the channel right of that column: never across a chip.  Its offset in the channels (one of
     * four, none in the middle) keeps parallel links and their labels apart. */
    fprintf(f, "graph placement {\n  label=\"%s: chips (cores used of %d, red by work per tick), links (spikes per "
               "inference; idle: dashed)\"; labelloc=t;\n  node [shape=box style=filled fontname=Helvetica "
               "fontsize=10 width=0.9 height=0.5 fixedsize=true];\n  edge [fontname=Helvetica];\n",
            stc_topology_name(topo), cores_per_chip);
    for (int c = 0; c < chips; c++) {
        int xyz[STC_TOPO_MAX_DIMS] = {0, 0, 0};
        stc_topology_coords(topo, c, xyz);
        double x = xyz[0] * 1.6 + xyz[2] * (dims[0] * 1.6 + 1.0), y = -xyz[1] * 1.2;
        double h = wmax > 0 ? work[c] / wmax : 0; /* white (idle) to red (busiest) */
        int gb = (int)(255 - 200 * h);
        fprintf(f, "  c%d [pos=\"%.2f,%.2f!\" fillcolor=\"#ff%02x%02x\" label=\"chip %d\\n%d/%d\"];\n", c, x * 72,
                y * 72, gb, gb, c, cores[c], cores_per_chip);
    }
    int n_far = 0;
    for (int i = 0; i < 2 * nl; i++) { /* idle links first: a busy one is drawn over any it meets */
        int l = i % nl;
        if ((i < nl) != (link_load[l] <= 0)) continue;
        const stc_link_t *k = stc_topology_link(topo, l);
        double w = lmax > 0 ? link_load[l] / lmax : 0;
        int ca[STC_TOPO_MAX_DIMS] = {0, 0, 0}, cb[STC_TOPO_MAX_DIMS] = {0, 0, 0}, far = 0, differ = 0;
        stc_topology_coords(topo, k->a, ca);
        stc_topology_coords(topo, k->b, cb);
        for (int d = 0; d < STC_TOPO_MAX_DIMS; d++) far |= abs(ca[d] - cb[d]) > 1, differ += ca[d] != cb[d];
        far |= differ > 1 || ca[2] != cb[2];
        char style[160], lab[16];
        short_count(lab, sizeof lab, link_load[l]);
        if (link_load[l] > 0)
            snprintf(style, sizeof style, "penwidth=%.2f color=\"#1f4e9a\" fontsize=8%s", 1 + 7 * w,
                     far ? " style=dotted" : "");
        else
            snprintf(style, sizeof style, "style=dashed color=gray80 penwidth=0.6");
        double ax = (ca[0] * 1.6 + ca[2] * (dims[0] * 1.6 + 1.0)) * 72, ay = -ca[1] * 1.2 * 72;
        double bx = (cb[0] * 1.6 + cb[2] * (dims[0] * 1.6 + 1.0)) * 72, by = -cb[1] * 1.2 * 72;
        if (!far) { /* the label beside the line, not on it: above a row's link, left of a column's */
            if (link_load[l] > 0) { /* neato -n2 takes lp only with the edge's own pos: box edge to box edge */
                double sx = bx > ax ? 1 : bx < ax ? -1 : 0, sy = by > ay ? 1 : by < ay ? -1 : 0;
                double x0 = ax + sx * 0.45 * 72, y0 = ay + sy * 0.25 * 72, x1 = bx - sx * 0.45 * 72,
                       y1 = by - sy * 0.25 * 72;
                fprintf(f, "  c%d -- c%d [%s label=\"%s\" pos=\"%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f\" "
                        "lp=\"%.1f,%.1f\"];\n", k->a, k->b, style, lab, x0, y0, x0 + (x1 - x0) / 3,
                        y0 + (y1 - y0) / 3, x0 + 2 * (x1 - x0) / 3, y0 + 2 * (y1 - y0) / 3, x1, y1,
                        (ax + bx) / 2 - (sy != 0 ? 16 : 0), (ay + by) / 2 + (sy == 0 ? 9 : 0));
            }
            else fprintf(f, "  c%d -- c%d [%s];\n", k->a, k->b, style);
            continue;
        }
        int slot = n_far++ % 4; /* -2, -1, 1 or 2: never the middle, where a column's own link runs */
        double off = (slot < 2 ? slot - 2 : slot - 1) * 0.1 * 72, cx = bx + 0.8 * 72 + off, cy = ay - 0.6 * 72 + off;
        /* from a's lower edge, and into b's right edge, on its row */
        double px[4] = {ax + off, ax + off, cx, cx}, py[4] = {ay - 0.25 * 72, cy, cy, by}, ex = bx + 0.45 * 72;
        fprintf(f, "  c%d -- c%d [%s pos=\"", k->a, k->b, style);
        for (int i = 0; i < 4; i++) { /* each straight piece as a cubic Bezier */
            double qx = i < 3 ? px[i + 1] : ex, qy = i < 3 ? py[i + 1] : by;
            if (i == 0) fprintf(f, "%.1f,%.1f", px[0], py[0]);
            fprintf(f, " %.1f,%.1f %.1f,%.1f %.1f,%.1f", px[i] + (qx - px[i]) / 3, py[i] + (qy - py[i]) / 3,
                    px[i] + 2 * (qx - px[i]) / 3, py[i] + 2 * (qy - py[i]) / 3, qx, qy);
        }
        if (link_load[l] > 0) /* the label on the channel, beside the corner */
            fprintf(f, "\" label=\"%s\" lp=\"%.1f,%.1f\"];\n", lab, (ax + cx) / 2, cy + 6);
        else
            fprintf(f, "\"];\n");
    }
    fprintf(f, "}\n");
    int bad = ferror(f);
    bad |= fclose(f) != 0;
    free(cores), free(work);
    if (bad) {
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: %s: cannot write the picture\n", fmt == 3 ? path : gv);
        if (fmt != 3) unlink(gv);
        return 1;
    }
    if (fmt == 3) return 0;
    FILE *o = temp_file(img, sizeof img);
    if (o) fclose(o);
    char tfmt[16], out[4300];
    snprintf(tfmt, sizeof tfmt, "-T%s", picture_ext[fmt] + 1);
    snprintf(out, sizeof out, "-o%s", img);
    char *argv[] = {"neato", "-n2", tfmt, out, gv, NULL};
    pid_t pid;
    int status = 0, rc = 0;
    if (!o || posix_spawnp(&pid, "neato", NULL, NULL, argv, environ) || waitpid(pid, &status, 0) < 0 ||
        !WIFEXITED(status) || WEXITSTATUS(status)) {
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: %s: Graphviz's neato failed to render the picture (is graphviz "
                        "installed? tools/bootstrap.sh installs it; --picture P.dot writes the graph alone)\n", path);
        rc = 1;
    } else if (copy_file(img, path)) {
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: %s: cannot write the picture (%s)\n", path, strerror(errno));
        rc = 1;
    }
    unlink(gv);
    if (o) unlink(img);
    return rc;
}

static double peak_rss_mb(void) {
    struct rusage ru;
    return getrusage(RUSAGE_SELF, &ru) ? 0 : ru.ru_maxrss / 1024.0;
}

/* Cut b's stages into cores (strategy greedy: the first-fit baseline; the
 * others: stc's cut), without tables yet, and its placement graph. */
static stc_status_t recut(stc_bundle_t *b, const stc_target_t *t, int first_fit, stc_cores_report_t *rep,
                          stc_pgraph_t *g, stc_err_t *err) {
    stc_cores_opts_t co = {b->stage_rate, first_fit, 0};
    stc_bundle_drop_cores(b);
    stc_pgraph_free(g);
    if (stc_cores_build(b, t, &co, rep, err) || stc_pgraph_from_bundle(b, t, b->stage_rate, g, err))
        return err->status;
    return STC_OK;
}

static const char *plural(int n) { return n == 1 ? "" : "s"; }

/* The text report's title and column heads: printed with its first row, so that a
 * failure before any row leaves no empty table above the error. */
/* A strategy's entry in the report's "strategies" array: its name and cut, the rest added by the caller. */
static cJSON *strategy_row(cJSON *arr, const char *name, int ff) {
    cJSON *x = cJSON_CreateObject();
    cJSON_AddStringToObject(x, "strategy", name);
    cJSON_AddStringToObject(x, "cut", ff ? "first-fit" : "stc");
    cJSON_AddItemToArray(arr, x);
    return x;
}

static void report_head(int *done, const stc_bundle_t *b, const stc_topology_t *topo, const stc_target_t *t,
                        const char *rates) {
    if (*done) return;
    *done = 1;
    int chips = stc_topology_chips(topo);
    printf("cutting and placing %s on %s (%d chip%s of %d core%s), rates %s\n\n", b->model, stc_topology_name(topo),
           chips, plural(chips), t->cores_per_chip, plural(t->cores_per_chip), rates);
    printf("%-8s %6s %6s %6s %6s %12s %13s %10s %11s %11s %8s %8s\n", "strategy", "cores", "/lb", "/lim", "chips",
           "inter-chip", "hop-weighted", "max link", "latency us", "energy uJ", "time s", "RSS MB");
}

/* 0, or the index + 1 of the strategy named want; -1 for an unknown name. */
static int strategy_index(const char *want) {
    for (int i = 0; i < N_STRATEGIES; i++)
        if (!strcmp(want, strategies[i].name)) return i + 1;
    return strcmp(want, "all") ? -1 : 0;
}

int coord_place_check(const coord_opts_t *o, const stc_target_t *t) {
    if (o->strategy && strategy_index(o->strategy) < 0) {
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: --strategy %s: expected stc, metis, scotch, greedy or all\n", o->strategy);
        return 2;
    }
    if (o->picture && coord_picture_check(o->picture)) return 2;
    stc_err_t err = {0};
    char *json = NULL;
    stc_topology_t *topo = load_topology(o->topology, t, &json, &err);
    int rc = 0;
    if (!topo) {
        coord_fail(&err);
        rc = 1;
    } else if (o->picture && stc_topology_chips(topo) > PICTURE_MAX_CHIPS) {
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: --picture %s: %s has %d chips; a picture shows at most %d\n", o->picture,
                stc_topology_name(topo), stc_topology_chips(topo), PICTURE_MAX_CHIPS);
        rc = 2;
    }
    free(json);
    stc_topology_destroy(&topo);
    return rc;
}

int coord_place(const coord_opts_t *o, stc_bundle_t *b, const stc_target_t *tp, cJSON *jr) {
    stc_target_t t = *tp;
    int only = strategy_index(o->strategy ? o->strategy : "stc") - 1; /* -1: all (the caller checked the name) */
    const char *rates = o->rates_from[0] ? o->rates_from
                        : b->stage_rate  ? "the bundle's own (measured when it was placed before)"
                                         : "estimated (no images: 0.1 spikes or 0.5 graded values per neuron "
                                           "per timestep)";
    stc_err_t err = {0};
    int rc = 1, cut = -1, chosen_cut = 0, chosen_cpc = 1, kept = -1, headed = 0, fail_need = 0;
    char fail[STC_ERR_MSG_MAX + 32] = ""; /* why the strategy whose cut needs the fewest chips failed */
    char *topo_json = NULL;
    double *ll = NULL, synops = 0;
    int *chip_of = NULL, *best = NULL;
    stc_pgraph_t g = {0};
    stc_cores_report_t rep, chosen_rep;
    stc_place_eval_t chosen;
    memset(&rep, 0, sizeof rep), memset(&chosen_rep, 0, sizeof chosen_rep), memset(&chosen, 0, sizeof chosen);
    stc_topology_t *topo = load_topology(o->topology, &t, &topo_json, &err);
    if (!topo) {
        coord_fail(&err);
        goto out;
    }
    int chips = stc_topology_chips(topo);
    /* --chips N: a cap on the chips the placement uses, within the topology */
    int cap = o->chips > 0 && o->chips < chips ? o->chips : chips;
    if (stc_cores_work(b, &t, b->stage_rate, NULL, &synops, &err)) {
        coord_fail(&err);
        goto out;
    }
    if (jr) {
        cJSON_AddStringToObject(jr, "rates", rates);
        cJSON_AddNumberToObject(jr, "rate_images", o->rate_images);
    }
    cJSON *arr = jr ? cJSON_AddArrayToObject(jr, "strategies") : NULL;
    for (int i = 0; i < N_STRATEGIES; i++) {
        if (only >= 0 && i != only) continue;
        int ff = !strcmp(strategies[i].name, "greedy");
        double t0 = coord_now(), cut_s = 0;
        stc_err_t e2 = {0};
        coord_status("strategy %s: cutting and placing on %s", strategies[i].name, stc_topology_name(topo));
        if (cut != ff && recut(b, &t, ff, &rep, &g, &e2)) {
            cut = -1;
            if (only >= 0 || e2.status != STC_E_LIMIT) { /* a cut that fails for want of room is infeasible */
                coord_fail(&e2);
                if (jr) { /* the report, for scripts, says why (the caller prints it) */
                    cJSON_AddStringToObject(jr, "topology", stc_topology_name(topo));
                    cJSON_AddNumberToObject(jr, "chips", chips);
                    cJSON_AddStringToObject(jr, "error", e2.msg);
                }
                goto out;
            }
            if (!fail[0]) snprintf(fail, sizeof fail, "strategy %s: %s", strategies[i].name, e2.msg);
            if (arr) {
                cJSON_AddStringToObject(strategy_row(arr, strategies[i].name, ff), "error", e2.msg);
            } else {
                report_head(&headed, b, topo, &t, rates);
                printf("%-8s infeasible: %s\n", strategies[i].name, e2.msg);
            }
            continue;
        }
        if (cut != ff) {
            cut = ff;
            cut_s = coord_now() - t0;
            free(chip_of);
            chip_of = malloc((size_t)b->n_cores * sizeof *chip_of);
            free(ll);
            ll = calloc((size_t)stc_topology_n_links(topo) + 1, sizeof *ll);
            if (!chip_of || !ll) {
                fflush(stdout);
                fprintf(stderr, "stc-coord: error: out of memory\n");
                goto out;
            }
        }
        double t1 = coord_now();
        stc_place_eval_t ev;
        int cpc = tp->cores_per_chip;
        if (o->spread) { /* every chip it may use: at most ceil(cores / chips) cores per chip */
            int per = (g.n + cap - 1) / cap;
            if (per < cpc) cpc = per < 1 ? 1 : per;
        }
        int need = (g.n + cpc - 1) / cpc;
        if (need > chips)
            stc_err_set(&e2, STC_E_LIMIT, "the model needs %d chip%s (%d cores, %d per chip); %s has %d", need,
                        plural(need), g.n, cpc, stc_topology_name(topo), chips);
        else if (need > cap)
            stc_err_set(&e2, STC_E_LIMIT, "the model needs %d cores of target %s, that is %d chips of %d cores; "
                        "--chips %d given", g.n, t.name, need, cpc, o->chips);
        else if (strategies[i].fn(&g, topo, cpc, chip_of, &e2) ||
                 stc_place_evaluate(&g, topo, cpc, chip_of, &ev, ll, &e2))
            ;
        else if (ev.chips_used > cap)
            stc_err_set(&e2, STC_E_LIMIT, "its placement uses %d chips; --chips %d given", ev.chips_used, o->chips);
        coord_status_end(); /* before the row */
        if (e2.status) { /* infeasible: a row saying why; the others still run */
            if (!fail[0] || need < fail_need) {
                snprintf(fail, sizeof fail, "strategy %s: %s", strategies[i].name, e2.msg);
                fail_need = need;
            }
            if (arr) {
                cJSON *x = strategy_row(arr, strategies[i].name, ff);
                cJSON_AddNumberToObject(x, "cores_used", rep.cores);
                cJSON_AddNumberToObject(x, "lower_bound", rep.lower_bound);
                cJSON_AddNumberToObject(x, "lower_bound_limits", rep.lower_bound_limits);
                cJSON_AddNumberToObject(x, "chips_needed", need);
                cJSON_AddStringToObject(x, "error", e2.msg);
            } else {
                report_head(&headed, b, topo, &t, rates);
                printf("%-8s %6d %6.2f %6.2f  infeasible: %s\n", strategies[i].name, rep.cores,
                       (double)rep.cores / rep.lower_bound, (double)rep.cores / rep.lower_bound_limits, e2.msg);
            }
            continue;
        }
        double place_s = coord_now() - t1, wmax = 0;
        for (int v = 0; v < g.n; v++) wmax = g.work[v] > wmax ? g.work[v] : wmax;
        /* estimates from the rates: the tick is the busiest core's work plus the barrier, and an
         * inference lasts at least as long as its busiest link needs to carry its spikes */
        double tick_ns = wmax + t.time_barrier_ns, compute_us = b->ticks * tick_ns / 1000.0, neurons = 0;
        double lat_us = fmax(compute_us, ev.max_link_load * 1e6);
        for (int s = 0; s < b->n_stages; s++)
            if (b->stages[s].kind != STC_NK_INPUT)
                neurons += (double)b->stages[s].c * b->stages[s].h * b->stages[s].w;
        double e_uj = (synops * t.energy_synop_pj + neurons * b->T * t.energy_neuron_active_pj +
                       ev.cost_weighted_traffic) * 1e-6 +
                      t.static_power_w * ev.chips_used * lat_us;
        if (arr) {
            cJSON *x = strategy_row(arr, strategies[i].name, ff);
            cJSON_AddNumberToObject(x, "cores_used", rep.cores);
            cJSON_AddNumberToObject(x, "lower_bound", rep.lower_bound);
            cJSON_AddNumberToObject(x, "cores_over_lower_bound", (double)rep.cores / rep.lower_bound);
            cJSON_AddNumberToObject(x, "lower_bound_limits", rep.lower_bound_limits);
            cJSON_AddNumberToObject(x, "cores_over_lower_bound_limits", (double)rep.cores / rep.lower_bound_limits);
            if (!ff) {
                cJSON_AddNumberToObject(x, "cores_unpacked", rep.cores_unpacked);
                cJSON_AddNumberToObject(x, "packed_stages", rep.packed_stages);
                cJSON_AddNumberToObject(x, "packed_pools", rep.packed_pools);
                cJSON_AddNumberToObject(x, "reserve", rep.reserve);
                cJSON_AddNumberToObject(x, "reserve_pools", rep.reserve_pools);
                cJSON_AddNumberToObject(x, "cores_packed", rep.cores_packed);
            }
            cJSON_AddNumberToObject(x, "chips_used", ev.chips_used);
            cJSON_AddNumberToObject(x, "inter_chip_spikes", ev.inter_chip_spikes);
            cJSON_AddNumberToObject(x, "hop_weighted_traffic", ev.hop_weighted_traffic);
            cJSON_AddNumberToObject(x, "cost_weighted_traffic_pj", ev.cost_weighted_traffic);
            cJSON_AddNumberToObject(x, "max_link_load", ev.max_link_load);
            cJSON_AddNumberToObject(x, "busiest_link", ev.busiest_link);
            cJSON_AddNumberToObject(x, "max_core_work_ns", wmax);
            cJSON_AddNumberToObject(x, "est_tick_ns", tick_ns);
            cJSON_AddNumberToObject(x, "est_compute_us", compute_us);
            cJSON_AddNumberToObject(x, "est_latency_us", lat_us);
            cJSON_AddNumberToObject(x, "est_energy_uj", e_uj);
            cJSON_AddNumberToObject(x, "cut_seconds", cut_s);
            cJSON_AddNumberToObject(x, "place_seconds", place_s);
            cJSON_AddNumberToObject(x, "peak_rss_mb", peak_rss_mb());
        } else {
            report_head(&headed, b, topo, &t, rates);
            printf("%-8s %6d %6.2f %6.2f %6d %12.0f %13.0f %10.3g %11.1f %11.1f %8.3f %8.0f\n", strategies[i].name,
                   rep.cores, (double)rep.cores / rep.lower_bound, (double)rep.cores / rep.lower_bound_limits,
                   ev.chips_used, ev.inter_chip_spikes,
                   ev.hop_weighted_traffic, ev.max_link_load, lat_us, e_uj, cut_s + place_s, peak_rss_mb());
        }
        if (kept < 0) { /* the first that fits, in the order stc, metis, scotch, greedy: stc's unless it fails */
            free(best);
            best = malloc((size_t)g.n * sizeof *best);
            if (!best) {
                fflush(stdout);
                fprintf(stderr, "stc-coord: error: out of memory\n");
                goto out;
            }
            memcpy(best, chip_of, (size_t)g.n * sizeof *best);
            chosen = ev, chosen_rep = rep, chosen_cut = ff, chosen_cpc = cpc, kept = i;
        }
    }
    if (kept < 0) {
        fflush(stdout);
        fprintf(stderr, "stc-coord: error: %s%s\n", only >= 0 ? "" : "--strategy all: no strategy fits: ", fail);
        if (jr) { /* the report, for scripts, says so too (the caller prints it) */
            cJSON_AddStringToObject(jr, "topology", stc_topology_name(topo));
            cJSON_AddNumberToObject(jr, "chips", chips);
            if (fail_need) cJSON_AddNumberToObject(jr, "chips_needed", fail_need);
            cJSON_AddStringToObject(jr, "error", fail);
        }
        goto out;
    }
    t.cores_per_chip = chosen_cpc;
    if (cut != chosen_cut && recut(b, &t, chosen_cut, &rep, &g, &err)) {
        coord_fail(&err);
        goto out;
    }
    { /* the chosen placement's spikes per inference on each link: for the bundle and the picture */
        stc_place_eval_t ev;
        if (stc_place_evaluate(&g, topo, t.cores_per_chip, best, &ev, ll, &err)) {
            coord_fail(&err);
            goto out;
        }
    }
    if (o->picture && picture(o->picture, topo, &g, best, t.cores_per_chip, ll)) goto out;
    apply(b, &t, topo, best, &topo_json, &ll);
    if (stc_tables_build(b, &t, &err)) {
        coord_fail(&err);
        goto out;
    }
    if (jr) {
        cJSON_AddStringToObject(jr, "topology", stc_topology_name(topo));
        cJSON_AddStringToObject(jr, "strategy", strategies[kept].name);
        cJSON_AddNumberToObject(jr, "cores_used", chosen_rep.cores);
        cJSON_AddNumberToObject(jr, "lower_bound", chosen_rep.lower_bound);
        cJSON_AddNumberToObject(jr, "lower_bound_limits", chosen_rep.lower_bound_limits);
        cJSON_AddNumberToObject(jr, "chips_used", chosen.chips_used);
        cJSON_AddNumberToObject(jr, "inter_chip_spikes", chosen.inter_chip_spikes);
        cJSON_AddNumberToObject(jr, "hop_weighted_traffic", chosen.hop_weighted_traffic);
        cJSON_AddNumberToObject(jr, "max_link_load", chosen.max_link_load);
        cJSON_AddBoolToObject(jr, "measured_rates", b->stage_rate != NULL);
        if (!chosen_cut) {
            cJSON_AddNumberToObject(jr, "packed_stages", chosen_rep.packed_stages);
            cJSON_AddNumberToObject(jr, "packed_pools", chosen_rep.packed_pools);
        }
    } else {
        if (!chosen_cut && chosen_rep.packed_stages) {
            const stc_cores_report_t *q = &chosen_rep;
            char what[96], left[96];
            int adds = q->packed_stages - q->packed_pools;
            if (adds && q->packed_pools)
                snprintf(left, sizeof left, "their hosts leave %.0f%% of their neurons to the adds, %.0f%% to the "
                         "pools", 100 * q->reserve, 100 * q->reserve_pools);
            else
                snprintf(left, sizeof left, "%.0f%% of their hosts' neurons left to them",
                         100 * (adds ? q->reserve : q->reserve_pools));
            printf("\npacked %s into the slack of %s neighbours' cores (%s): %d cores before balancing, %d with every "
                   "stage on cores of its own\n", stc_cores_packed_what(q, what, sizeof what),
                   q->packed_stages == 1 ? "its" : "their", left, q->cores_packed, q->cores_unpacked);
        }
        printf("\nkept the %s cut and placement: %d core%s (lower bounds %d by demand, %d by the target's limits), "
               "%d of %d chip%s used\n", strategies[kept].name, chosen_rep.cores, plural(chosen_rep.cores),
               chosen_rep.lower_bound, chosen_rep.lower_bound_limits, chosen.chips_used, chips, plural(chips));
    }
    rc = 0;
out:
    stc_pgraph_free(&g);
    free(chip_of);
    free(best);
    free(ll);
    free(topo_json);
    stc_topology_destroy(&topo);
    return rc;
}

int cmd_partition(coord_opts_t *o) {
    if (o->picture && coord_picture_check(o->picture)) return 2;
    if (!coord_is_bundle(o->model)) {
        fprintf(stderr, "stc-coord: error: %s: partition takes a compiled bundle (stc-coord compile ... -o M.stc)\n",
                o->model);
        return 2;
    }
    if (!o->topology) {
        fprintf(stderr, "stc-coord: error: partition needs --topology (mesh:4x4, torus:4x4, torus:2x2x2, hier:8x4 "
                        "or FILE.json)\n");
        return 2;
    }
    if (o->calib && o->dataset) {
        fprintf(stderr, "stc-coord: error: --calibrate %s and --dataset %s: the rates are measured on one set of "
                        "images; give one\n", o->calib, o->dataset);
        return 2;
    }
    if (o->limit && !o->calib && !o->dataset) {
        fprintf(stderr, "stc-coord: error: --limit %lld: it limits the images of --calibrate X or --dataset NAME; "
                        "give one (without them the rates are the bundle's own, or estimated)\n", (long long)o->limit);
        return 2;
    }
    stc_err_t err = {0};
    coord_status_begin(o, "partition");
    coord_status("reading %s", o->model);
    stc_bundle_t *b = stc_bundle_read(o->model, &err);
    if (!b) {
        coord_fail(&err);
        return 1;
    }
    stc_target_t t;
    int rc = 1;
    cJSON *r = o->json ? cJSON_CreateObject() : NULL;
    if (coord_bundle_target(b, &t) || (rc = coord_place_check(o, &t)) != 0) goto out;
    rc = 1;
    if (o->calib || o->dataset) {
        coord_status("measuring firing rates");
        if (measure(o, b)) goto out;
        coord_status_end();
    }
    const char *dst = o->out ? o->out : o->model;
    rc = coord_place(o, b, &t, r);
    if (rc) {
        if (r && cJSON_GetObjectItem(r, "error")) { /* what could not be placed, for scripts */
            char *s = cJSON_PrintUnformatted(r);
            if (s) puts(s);
            free(s);
        }
        goto out;
    }
    rc = 1;
    coord_status("writing %s", dst);
    int bad = stc_bundle_validate(b, dst, &err) || stc_bundle_write(b, dst, &err);
    coord_status_end();
    if (bad) {
        coord_fail(&err);
        goto out;
    }
    if (r) {
        cJSON_AddStringToObject(r, "bundle", dst);
        char *s = cJSON_PrintUnformatted(r);
        puts(s);
        free(s);
    } else {
        printf("wrote %s\n", dst);
    }
    rc = 0;
out:
    coord_status_end();
    cJSON_Delete(r);
    stc_bundle_destroy(&b);
    return rc;
}
