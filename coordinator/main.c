/* main.c - stc-coord: the user's command. compile -> partition -> deploy -> run -> profile.
 *
 * Commands so far: `inspect` (what a checkpoint holds and what it will cost),
 * `compile` (chip images in a .stc bundle), `run` (float or integer
 * interpreter on a checkpoint, the chip simulator on a bundle), `profile`
 * (energy and latency of a bundle) and `target`.  Models are checkpoints
 * (.pth/.pt, legacy or zip, .safetensors), Spike IR text (.stcir) or bundles
 * (.stc); output is for people by default, JSON with --json.  Errors go to stderr as "stc-coord: error: ..." with exit status 1
 * (2 for usage errors).
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The help, in sections: `stc-coord --help` prints them all, `stc-coord COMMAND --help` the command's own. */
static const char H_COMMANDS[] =
    "commands:\n"
    "  inspect MODEL   architecture, config, parameter count and per-layer costs; of a\n"
    "                  MODEL.stc bundle: manifest, topology and busiest expected link\n"
    "  compile MODEL   quantize and lower onto a target's cores and chips: -o MODEL.stc;\n"
    "                  with --topology T [--strategy S] also cut and place as partition does\n"
    "  run MODEL       run images: a checkpoint with --float or --int (the interpreters), a\n"
    "                  MODEL.stc bundle on the bit-accurate chip simulator\n"
    "  profile M.stc   energy per inference by layer and operation class, static power,\n"
    "                  latency and utilization, from the simulator's counters\n"
    "  partition M.stc cut the stages into cores and place them on a topology:\n"
    "                  --topology mesh:4x4|torus:4x4|torus:2x2x2|\n"
    "                  hier:8x4|FILE.json [--strategy stc|metis|scotch|greedy|all]\n"
    "                  [--calibrate X | --dataset NAME] [--limit N] [-o OUT.stc] [--json]\n"
    "                  [--picture P.png|.svg|.pdf|.dot]  chips by load, links by traffic\n"
    "                  [--spread]  spread the cores over the chips (ceil(cores/chips) each)\n"
    "                  [--chips N]  use at most N of the topology's chips\n"
    "  deploy M.stc    send the chip images to a node job (mpirun -np N stc-node --coord\n"
    "                  tcp://HOST:PORT) and check what every rank loaded: --endpoint tcp://*:PORT\n"
    "                  [--keys FILE] [--owners R,R,..] [--json]\n"
    "  run M.stc --endpoint tcp://*:PORT   run on the node job (deploying first if needed),\n"
    "                  same inputs and report as the single-process run\n"
    "  stop            end the node job: --endpoint tcp://*:PORT\n"
    "  target NAME     a target descriptor (loihi2, loihi3, or FILE.json), each figure with its\n"
    "                  source or assumption; --json prints the descriptor to start your own\n"
    "  keygen          a new CurveZMQ key pair for a cluster: -o FILE (stc-cluster.keys);\n"
    "                  copy it to every host, keep it secret, pass --keys FILE to stc-coord\n"
    "                  and stc-node\n";
static const char H_MODEL[] =
    "MODEL is a PyTorch checkpoint (.pth/.pt zip or legacy, .safetensors) of Spikformer\n"
    "(CIFAR or ImageNet variant) or Spike-driven Transformer v1, or a Spike IR text file.\n"
    "A config FILE.json next to FILE.pth is used when --config is not given.\n"
    "\n"
    "model options (official constructor names; the weights determine the rest):\n"
    "  --config FILE        JSON config (img_size_h, img_size_w, num_heads, T, ...)\n"
    "  --arch A             spikformer_cifar | spikformer_imagenet | sdt\n"
    "  --img-size N|HxW     input size          --num-heads N    attention heads\n"
    "  --time-steps T       timesteps (T)       --pooling-stat S SDT stem pools, e.g. 1111\n"
    "  --in-channels N  --num-classes N  --embed-dims N  --depths N  --mlp-ratios R\n"
    "  --tau X (2)  --v-threshold X (1)  --attn-v-threshold X (0.5)   LIF constants\n";
static const char H_COMPILE[] =
    "compile options:\n"
    "  --target T           loihi3 (default), loihi2 or FILE.json\n"
    "  --weight-bits N      1..8 (8); 1 means binary weights (+-1 with a layer exponent)\n"
    "  --chips N            fail unless the model fits N chips (with --topology: use at most N\n"
    "                       of its chips)\n"
    "  --calib X            calibrate on the first 64 images of X (default: the model's data\n"
    "                       set's first 64 training images)\n"
    "  --threads N          calibrate (and with --topology measure rates) on N images at a\n"
    "                       time (default: one per core, in at most a quarter of the memory)\n"
    "  --topology T         also cut and place the cores on T, as partition does (the\n"
    "                       partition options below apply; rates on at most 16 images)\n"
    "  -o FILE.stc          where to write the bundle;  --json  the summary for scripts\n"
    "  --progress, --no-progress   show or hide the line saying what it is doing (shown on a\n"
    "                       terminal unless --json)\n";
static const char H_PARTITION[] =
    "partition options (also compile --topology):\n"
    "  --topology T         mesh:4x4, torus:4x4, torus:2x2x2, hier:8x4 or FILE.json\n"
    "  --strategy S         stc (default), metis, scotch, greedy, or all: compare the four and\n"
    "                       keep stc's placement (the first that fits when stc's does not)\n"
    "  --calibrate X        measure firing rates on the first 64 images of X (npy or idx);\n"
    "                       compile: the same as --calib (16 of its images for the rates)\n"
    "  --dataset NAME       or on NAME's test images (fashion-mnist); compile: its training\n"
    "                       images, as for calibration\n"
    "  --limit N            on at most N of those images (at most 64; compile: 16)\n"
    "  --threads N          partition: N simulators measure them, one image each (default: one\n"
    "                       per core, in at most a quarter of the memory)\n"
    "  --chips N            use at most N of the topology's chips\n"
    "  --spread             spread the cores over the chips: at most ceil(cores/chips) on each\n"
    "  --picture P          draw the placement: P.png, P.svg or P.pdf (Graphviz's neato), or\n"
    "                       the graph itself, P.dot\n"
    "  -o OUT.stc           where to write the placed bundle (default: in place)\n"
    "  --json               the report for scripts\n"
    "  --progress, --no-progress   as for compile\n";
static const char H_PASSES[] =
    "passes (inspect, run and compile; the verifier runs after each):\n"
    "  -O0 .. -O3           optimization level (-O1: fold_bn; -O2 and up: fold_bn,const_fold,\n"
    "                       dce,cse)\n"
    "  --passes a,b         run these passes in order (fold_bn, const_fold, dce, cse, quantize,\n"
    "                       delay_balance)\n"
    "  --dump-ir-after P    print the IR after pass P to stderr\n";
static const char H_INSPECT[] =
    "inspect options:\n"
    "  --json               machine-readable output\n"
    "  --dot FILE           write the IR graph for Graphviz (dot -Tpng FILE -o g.png)\n"
    "  --dump-ir FILE       write the Spike IR text ('-' for stdout); add --weights for a\n"
    "                       loadable file with every parameter value\n";
static const char H_RUN[] =
    "run options:\n"
    "  --float              use the float interpreter\n"
    "  --int                quantize (after -O2 unless a level is given) and use the integer\n"
    "                       interpreter, the golden model of the chip\n"
    "  --weight-bits N      --int: weight bits, 1..8 (8)\n"
    "  --calib X            --int: calibrate on the first 64 images of X (npy or idx); default:\n"
    "                       the data set's first 64 training images, else the first 64 inputs\n"
    "  --input X            .npy float32 [N,C,H,W] or [C,H,W], or an idx image file\n"
    "  --labels L           idx label file (or .npy) for accuracy\n"
    "  --dataset NAME       fashion-mnist: its test set, normalized as the config says\n"
    "  --limit N            only the first N images\n"
    "  --threads N          worker threads, one image each (default: one per core, in at most a\n"
    "                       quarter of the memory)\n"
    "  --trace DIR          write every LIF's membrane charge to DIR/<name>.npy [N,T,C*H*W]\n"
    "  --force-spikes DIR   impose DIR/<name>.npy spikes at every LIF (teacher forcing, for\n"
    "                       layer-by-layer parity checks)\n"
    "  --json               per input: logits, class, spike_counts by PyTorch module name\n"
    "  --digest             --json also gets each input's spike digest and every core's counters\n";
static const char H_PROFILE[] =
    "profile options:\n"
    "  --input X            .npy float32 [N,C,H,W] or [C,H,W], or an idx image file\n"
    "  --dataset NAME       fashion-mnist: its test set (default: the bundle's data set)\n"
    "  --limit N            only the first N images (default: 100 of a data set, all of X)\n"
    "  --threads N          worker threads, one image each (default: one per core, in at most a\n"
    "                       quarter of the memory)\n"
    "  --progress, --no-progress   show or hide the simulator's progress\n"
    "  --json               the profile for scripts\n";
static const char H_DIST[] =
    "distributed runtime (deploy, run --endpoint, stop; docs/runtime.md):\n"
    "  --endpoint EP        where the node job connects: tcp://*:PORT (or ipc://PATH)\n"
    "  --keys FILE          the cluster's CurveZMQ keys (stc-coord keygen -o FILE)\n"
    "  --owners R,R,...     the rank of each chip (default: contiguous chips, cores balanced)\n"
    "  --ranks N            fail unless the node job has N ranks\n"
    "  --wait S             how long to wait for the node job to join (60)\n"
    "  --node-timeout S     a rank silent this long is lost: the run stops naming it (2)\n"
    "  --batch N            inputs per RUN message (8)\n"
    "  --digest             deploy: the ranks record each input's spike digest (run --digest)\n"
    "  --checkpoint-every K save the chips' state every K ticks to --checkpoint FILE\n"
    "                       (default MODEL.stc.ckpt); --resume continues from it\n"
    "  --stop-nodes         end the node job when the command is done\n";

static void usage(FILE *f) {
    fprintf(f, "usage: stc-coord COMMAND MODEL [options]\n\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s\n%s", H_COMMANDS,
            H_MODEL, H_COMPILE, H_PARTITION, H_PASSES, H_INSPECT, H_RUN, H_PROFILE, H_DIST);
}

/* COMMAND --help: that command's usage line and options on stdout; 0, or 2 for an unknown command. */
static int command_usage(const char *cmd) {
    static const struct {
        const char *cmd, *line, *s1, *s2, *s3, *s4;
    } h[] = {
        {"inspect", "inspect MODEL [options]", H_MODEL, H_PASSES, H_INSPECT, NULL},
        {"compile", "compile MODEL -o MODEL.stc [--target T] [--topology T [--strategy S]] [options]", H_MODEL,
         H_PASSES, H_COMPILE, H_PARTITION},
        {"run", "run MODEL [--input X | --dataset NAME] [options]", H_MODEL, H_PASSES, H_RUN, H_DIST},
        {"profile", "profile MODEL.stc [--input X | --dataset NAME] [options]", H_PROFILE, NULL, NULL, NULL},
        {"partition", "partition MODEL.stc --topology T [options]", H_PARTITION, NULL, NULL, NULL},
        {"deploy", "deploy MODEL.stc --endpoint tcp://*:PORT [options]", H_DIST, NULL, NULL, NULL},
        {"stop", "stop --endpoint tcp://*:PORT [--keys FILE]", H_DIST, NULL, NULL, NULL},
        {"target", "target loihi2|loihi3|FILE.json [--json]", NULL, NULL, NULL, NULL},
        {"keygen", "keygen [-o FILE]", NULL, NULL, NULL, NULL},
    };
    for (size_t i = 0; i < sizeof h / sizeof h[0]; i++) {
        if (strcmp(cmd, h[i].cmd)) continue;
        printf("usage: stc-coord %s\n\n", h[i].line);
        /* the command's own entry of the command list: its first line up to the next command's */
        char key[32];
        snprintf(key, sizeof key, "\n  %s ", cmd);
        const char *e = strstr(H_COMMANDS, key);
        if (e) {
            e++;
            const char *stop = e + 1;
            while ((stop = strchr(stop, '\n')) && stop[1] && stop[3] == ' ') stop++;
            printf("%.*s\n", stop ? (int)(stop - e + 1) : (int)strlen(e), e);
        }
        const char *s[] = {h[i].s1, h[i].s2, h[i].s3, h[i].s4};
        for (int k = 0; k < 4; k++)
            if (s[k]) printf("%s%s", k ? "\n" : "", s[k]);
        return 0;
    }
    fprintf(stderr, "stc-coord: unknown command '%s': expected inspect, compile, partition, deploy, run, stop, "
                    "profile, target or keygen\n(see stc-coord --help)\n", cmd);
    return 2;
}

/* stdout first: a report's lines come before the error that ends it, also through a pipe */
void coord_fail(const stc_err_t *err) {
    coord_status_end();
    fflush(stdout);
    fprintf(stderr, "stc-coord: error: %s\n", err->msg);
}

static int bad_usage(const char *fmt, const char *arg) {
    fflush(stdout);
    fprintf(stderr, "stc-coord: ");
    fprintf(stderr, fmt, arg);
    fprintf(stderr, "\n(see stc-coord --help)\n");
    return 2;
}

/* --flag-name -> official config name */
static const struct {
    const char *flag, *name;
} model_flags[] = {
    {"--arch", "arch"},           {"--img-size", "img_size"},       {"--num-heads", "num_heads"},
    {"--time-steps", "T"},        {"--pooling-stat", "pooling_stat"}, {"--in-channels", "in_channels"},
    {"--num-classes", "num_classes"}, {"--embed-dims", "embed_dims"}, {"--depths", "depths"},
    {"--mlp-ratios", "mlp_ratios"}, {"--img-size-h", "img_size_h"}, {"--img-size-w", "img_size_w"},
    {"--tau", "tau"},             {"--v-threshold", "v_threshold"}, {"--attn-v-threshold", "attn_v_threshold"},
};

/* Which commands take each option: one given to a command that does not use
 * it is refused, not ignored (`partition --dot g.dot` would draw nothing). */
enum {
    C_INSPECT = 1 << 0, C_COMPILE = 1 << 1, C_RUN = 1 << 2, C_PROFILE = 1 << 3, C_PARTITION = 1 << 4,
    C_DEPLOY = 1 << 5, C_STOP = 1 << 6, C_TARGET = 1 << 7, C_KEYGEN = 1 << 8,
    C_LOADS = C_INSPECT | C_COMPILE | C_RUN, /* a checkpoint's options and passes */
    C_PLACES = C_COMPILE | C_PARTITION,      /* compile --topology does what partition does */
    C_SIMS = C_RUN | C_PROFILE,              /* the chip simulator's inputs */
    C_NODES = C_RUN | C_DEPLOY | C_STOP,     /* the node job */
};
static const char *const command_names[] = {"inspect", "compile", "run",    "profile", "partition",
                                             "deploy",  "stop",    "target", "keygen"};
static const struct {
    const char *opt;
    unsigned cmds;
} option_cmds[] = {
    {"--json", ~(unsigned)C_KEYGEN},
    {"--config", C_LOADS}, {"--passes", C_LOADS}, {"--dump-ir-after", C_LOADS},
    {"-O0", C_LOADS}, {"-O1", C_LOADS}, {"-O2", C_LOADS}, {"-O3", C_LOADS},
    {"--float", C_RUN}, {"--int", C_RUN}, {"--trace", C_RUN}, {"--force-spikes", C_RUN}, {"--labels", C_RUN},
    {"--calib", C_COMPILE | C_RUN | C_PARTITION}, {"--calibrate", C_PLACES},
    {"--weight-bits", C_COMPILE | C_RUN}, {"--target", C_COMPILE},
    {"--topology", C_PLACES}, {"--strategy", C_PLACES}, {"--picture", C_PLACES}, {"--spread", C_PLACES},
    {"--chips", C_PLACES},
    {"-o", C_PLACES | C_KEYGEN}, {"--output", C_PLACES | C_KEYGEN},
    {"--weights", C_INSPECT | C_RUN}, {"--dot", C_INSPECT}, {"--dump-ir", C_INSPECT},
    {"--input", C_SIMS}, {"--threads", C_SIMS | C_COMPILE | C_PARTITION}, {"--digest", C_RUN | C_DEPLOY},
    {"--dataset", C_COMPILE | C_SIMS | C_PARTITION}, {"--limit", C_COMPILE | C_SIMS | C_PARTITION},
    {"--progress", C_SIMS | C_DEPLOY | C_PLACES}, {"--no-progress", C_SIMS | C_DEPLOY | C_PLACES},
    {"--endpoint", C_NODES}, {"--keys", C_NODES}, {"--wait", C_NODES}, {"--node-timeout", C_NODES},
    {"--ranks", C_NODES}, {"--owners", C_RUN | C_DEPLOY}, {"--stop-nodes", C_RUN | C_DEPLOY},
    {"--checkpoint", C_RUN}, {"--checkpoint-every", C_RUN}, {"--resume", C_RUN}, {"--batch", C_RUN},
};

/* 0, or 2 after saying why when option a does not apply to cmd (an unknown
 * command or option is left to the parser, which names it) */
static int check_option(const char *cmd, const char *a) {
    unsigned bit = 0;
    for (size_t c = 0; c < sizeof command_names / sizeof command_names[0]; c++)
        if (!strcmp(cmd, command_names[c])) bit = 1u << c;
    unsigned cmds = 0;
    for (size_t f = 0; f < sizeof model_flags / sizeof model_flags[0]; f++)
        if (!strcmp(a, model_flags[f].flag)) cmds = C_LOADS;
    for (size_t f = 0; f < sizeof option_cmds / sizeof option_cmds[0]; f++)
        if (!strcmp(a, option_cmds[f].opt)) cmds = option_cmds[f].cmds;
    if (!bit || !cmds || (cmds & bit)) return 0;
    char list[160] = "";
    size_t n = 0;
    for (size_t c = 0; c < sizeof command_names / sizeof command_names[0]; c++)
        if (cmds & (1u << c) && n < sizeof list)
            n += (size_t)snprintf(list + n, sizeof list - n, "%s%s", n ? ", " : "", command_names[c]);
    fflush(stdout);
    fprintf(stderr, "stc-coord: %s does not take %s (it is an option of %s; see stc-coord %s --help)\n", cmd, a,
            list, cmd);
    return 2;
}

/* The option a stands for: aliases and -O levels name one setting, which may be given once. */
static const char *option_key(const char *a) {
    if (!strcmp(a, "--calibrate")) return "--calib";
    if (!strcmp(a, "--output")) return "-o";
    if (!strcmp(a, "--no-progress")) return "--progress";
    if (!strcmp(a, "-O0") || !strcmp(a, "-O1") || !strcmp(a, "-O2") || !strcmp(a, "-O3")) return "--passes";
    return a;
}

int main(int argc, char **argv) {
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("stc-coord 0.1.0\n");
        return 0;
    }
    const char *cmd = argv[1];
    coord_opts_t o;
    memset(&o, 0, sizeof o);
    stc_model_cfg_init(&o.cfg);
    const char *seen[64], *seen_as[64]; /* the options given so far: a second one would silently win */
    int n_seen = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *next = i + 1 < argc ? argv[i + 1] : NULL;
        if (a[0] == '-' && check_option(cmd, a)) return 2;
        if (a[0] == '-' && a[1] && strcmp(a, "--help") && strcmp(a, "-h")) {
            const char *k = option_key(a);
            for (int j = 0; j < n_seen; j++)
                if (!strcmp(seen[j], k)) {
                    fflush(stdout);
                    if (strcmp(a, seen_as[j]))
                        fprintf(stderr, "stc-coord: %s: already given as %s; the two set one thing, give one\n",
                                a, seen_as[j]);
                    else
                        fprintf(stderr, "stc-coord: %s: given twice; give it once\n", a);
                    fprintf(stderr, "(see stc-coord --help)\n");
                    return 2;
                }
            if (n_seen < (int)(sizeof seen / sizeof seen[0])) seen_as[n_seen] = a, seen[n_seen++] = k;
        }
#define NEED() \
    do { \
        if (!next) return bad_usage("option %s needs a value", a); \
        i++; \
    } while (0)
        int matched = 0;
        for (size_t f = 0; f < sizeof model_flags / sizeof model_flags[0]; f++)
            if (!strcmp(a, model_flags[f].flag)) {
                NEED();
                if (o.n_flags == 16) return bad_usage("%s: too many model options", a);
                o.flag_names[o.n_flags] = model_flags[f].name;
                o.flag_values[o.n_flags++] = next;
                matched = 1;
            }
        if (matched) continue;
        if (!strcmp(a, "-O0") || !strcmp(a, "-O1") || !strcmp(a, "-O2") || !strcmp(a, "-O3")) {
            o.passes = a;
            continue;
        }
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) return command_usage(cmd);
        if (!strcmp(a, "--json")) o.json = true;
        else if (!strcmp(a, "--passes")) { NEED(); o.passes = next; }
        else if (!strcmp(a, "--dump-ir-after")) { NEED(); o.dump_after = next; }
        else if (!strcmp(a, "--float")) o.float_mode = true;
        else if (!strcmp(a, "--int")) o.int_mode = true;
        else if (!strcmp(a, "--calib")) { NEED(); o.calib = next; }
        else if (!strcmp(a, "--target")) { NEED(); o.target = next; }
        else if (!strcmp(a, "--topology")) { NEED(); o.topology = next; }
        else if (!strcmp(a, "--strategy")) { NEED(); o.strategy = next; }
        else if (!strcmp(a, "--calibrate")) { NEED(); o.calib = next; }
        else if (!strcmp(a, "--picture")) { NEED(); o.picture = next; }
        else if (!strcmp(a, "-o") || !strcmp(a, "--output")) { NEED(); o.out = next; }
        else if (!strcmp(a, "--weights")) o.dump_weights = true;
        else if (!strcmp(a, "--progress")) o.progress = true;
        else if (!strcmp(a, "--no-progress")) o.no_progress = true;
        else if (!strcmp(a, "--config")) { NEED(); o.config = next; }
        else if (!strcmp(a, "--dot")) { NEED(); o.dot = next; }
        else if (!strcmp(a, "--dump-ir")) { NEED(); o.dump_ir = next; }
        else if (!strcmp(a, "--input")) { NEED(); o.input = next; }
        else if (!strcmp(a, "--labels")) { NEED(); o.labels = next; }
        else if (!strcmp(a, "--dataset")) { NEED(); o.dataset = next; }
        else if (!strcmp(a, "--trace")) { NEED(); o.trace = next; }
        else if (!strcmp(a, "--endpoint")) { NEED(); o.endpoint = next; }
        else if (!strcmp(a, "--keys")) { NEED(); o.keys = next; }
        else if (!strcmp(a, "--owners")) { NEED(); o.owners = next; }
        else if (!strcmp(a, "--checkpoint")) { NEED(); o.ckpt = next; }
        else if (!strcmp(a, "--resume")) o.resume = true;
        else if (!strcmp(a, "--digest")) o.digest = true;
        else if (!strcmp(a, "--stop-nodes")) o.stop_nodes = true;
        else if (!strcmp(a, "--spread")) o.spread = true;
        else if (!strcmp(a, "--wait") || !strcmp(a, "--node-timeout")) {
            NEED();
            char *end;
            double v = strtod(next, &end);
            if (*end || !(v > 0) || v > 86400) return bad_usage("%s expects seconds (0 < S <= 86400)", a);
            if (a[2] == 'w') o.wait = v;
            else o.node_timeout = v;
        } else if (!strcmp(a, "--ranks") || !strcmp(a, "--checkpoint-every") || !strcmp(a, "--batch")) {
            NEED();
            char *end;
            long long v = strtoll(next, &end, 10);
            if (*end || v < 1 || v > 1000000000) return bad_usage("%s expects a positive whole number", a);
            if (a[2] == 'r') o.ranks = (int)v;
            else if (a[2] == 'c') o.ckpt_every = v;
            else o.batch = v > 4096 ? 4096 : (int)v;
        }
        else if (!strcmp(a, "--force-spikes")) { NEED(); o.force = next; }
        else if (!strcmp(a, "--limit") || !strcmp(a, "--threads") || !strcmp(a, "--chips") ||
                 !strcmp(a, "--weight-bits")) {
            NEED();
            char *end;
            long v = strtol(next, &end, 10);
            if (*end || v < 1 || v > 100000000) return bad_usage("%s expects a positive whole number", a);
            if (!strcmp(a, "--weight-bits") && v > 8) return bad_usage("%s: the chip stores weights of 1 to 8 bits", a);
            if (a[2] == 'l') o.limit = v;
            else if (a[2] == 't') o.threads = (int)v;
            else if (a[2] == 'c') o.chips = (int)v;
            else o.weight_bits = (int)v;
        } else if (a[0] == '-' && a[1]) {
            return bad_usage("unknown option '%s'", a);
        } else if (!o.model) {
            o.model = a;
        } else {
            return bad_usage("unexpected argument '%s' (one MODEL per command)", a);
        }
#undef NEED
    }
    if (!strcmp(cmd, "target")) {
        if (!o.model) return bad_usage("%s: which target? (loihi2, loihi3 or a FILE.json)", cmd);
        return cmd_target(&o);
    }
    if (!strcmp(cmd, "inspect") || !strcmp(cmd, "run")) {
        if (!o.model) return bad_usage("%s: which model? (stc-coord COMMAND MODEL)", cmd);
        return !strcmp(cmd, "inspect") ? cmd_inspect(&o) : cmd_run(&o);
    }
    if (!strcmp(cmd, "compile") || !strcmp(cmd, "profile")) {
        if (!o.model) return bad_usage("%s: which model? (stc-coord COMMAND MODEL)", cmd);
        return !strcmp(cmd, "compile") ? cmd_compile(&o) : cmd_profile(&o);
    }
    if (!strcmp(cmd, "partition")) {
        if (!o.model) return bad_usage("%s: which bundle? (stc-coord partition MODEL.stc --topology T)", cmd);
        return cmd_partition(&o);
    }
    if (!strcmp(cmd, "keygen")) {
        if (o.model) return bad_usage("keygen: unexpected argument '%s' (the key file is -o FILE)", o.model);
        return cmd_keygen(&o);
    }
    if (!strcmp(cmd, "deploy")) {
        if (!o.model) return bad_usage("%s: which bundle? (stc-coord deploy MODEL.stc --endpoint tcp://*:PORT)", cmd);
        return cmd_deploy(&o);
    }
    if (!strcmp(cmd, "stop")) return cmd_stop(&o);
    return bad_usage("unknown command '%s': expected inspect, compile, partition, deploy, run, stop, profile, target "
                     "or keygen", cmd);
}
