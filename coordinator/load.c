/* load.c - turn the MODEL argument into Spike IR: checkpoint + config + flags, or IR text.
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The first line that is not blank or a '#' comment starts with "stc-ir". */
static int is_ir_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return 0;
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = 0;
    if (strlen(buf) != n) return 0; /* binary */
    const char *p = buf;
    for (;;) {
        while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
        if (*p != '#') break;
        p = strchr(p, '\n');
        if (!p) return 0;
    }
    return !strncmp(p, "stc-ir", 6);
}

/* models/x.pth -> models/x.json if it exists */
static int sibling_config(const char *model, char *out, size_t cap) {
    const char *slash = strrchr(model, '/');
    const char *dot = strrchr(model, '.');
    size_t stem = (dot && (!slash || dot > slash)) ? (size_t)(dot - model) : strlen(model);
    if (stem + 6 > cap) return 0;
    memcpy(out, model, stem);
    strcpy(out + stem, ".json");
    struct stat st;
    return stat(out, &st) == 0 && S_ISREG(st.st_mode);
}

int coord_load_model(const coord_opts_t *o, coord_model_t *m, stc_err_t *err) {
    memset(m, 0, sizeof *m);
    m->cfg = o->cfg;
    if (is_ir_text(o->model)) {
        if (o->config || o->n_flags) {
            stc_err_set(err, STC_E_USAGE, "%s: a Spike IR file carries its own shapes; --config and model "
                        "flags apply to checkpoints only", o->model);
            return 1;
        }
        m->ir = stc_ir_load(o->model, err);
        if (!m->ir) return 1;
        if (stc_ir_verify(m->ir, err)) {
            stc_err_prefix(err, "%s", o->model);
            return 1;
        }
        return coord_passes(o, m, err);
    }
    char sib[1024];
    const char *cfgpath = o->config;
    if (!cfgpath && sibling_config(o->model, sib, sizeof sib)) cfgpath = sib;
    if (cfgpath && stc_model_cfg_load(&m->cfg, cfgpath, err)) return 1;
    for (int i = 0; i < o->n_flags; i++)
        if (stc_model_cfg_set(&m->cfg, o->flag_names[i], o->flag_values[i], err)) return 1;
    m->ck = stc_ckpt_load(o->model, err);
    if (!m->ck) return 1;
    m->from_ckpt = true;
    if (stc_model_recognize(m->ck, &m->cfg, err)) return 1;
    m->ir = stc_model_import(m->ck, &m->cfg, err);
    if (!m->ir) return 1;
    return coord_passes(o, m, err);
}

int coord_passes(const coord_opts_t *o, coord_model_t *m, stc_err_t *err) {
    if (!o->passes && !o->dump_after) return 0;
    stc_pass_opts_t po = {0};
    po.dump_after = o->dump_after;
    po.verbose = stc_log_enabled(STC_LOG_INFO);
    po.dump_to = stderr;
    return stc_pass_pipeline(m->ir, o->passes ? o->passes : "O0", &po, err) ? 1 : 0;
}

void coord_model_free(coord_model_t *m) {
    stc_ckpt_destroy(&m->ck);
    stc_ir_destroy(&m->ir);
}
