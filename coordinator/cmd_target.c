/* cmd_target.c - `stc-coord target NAME|FILE [--json]`: a target descriptor, figure by figure,
 * each with its published source or the assumption behind it.  --json prints the
 * descriptor itself: the starting point for a user's own chip.
 * SPDX-License-Identifier: MIT
 */
#include "coord.h"
#include "stc_target.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cmd_target(coord_opts_t *o) {
    stc_err_t err = {0};
    stc_target_t t;
    if (stc_target_load(o->model, &t, &err)) {
        coord_fail(&err);
        return 1;
    }
    unsigned char *data = NULL;
    size_t n = 0;
    const char *text = stc_target_preset_json(o->model);
    if (!text || strchr(o->model, '/')) {
        if (stc_read_file(o->model, 1u << 20, &data, &n, &err)) {
            coord_fail(&err);
            return 1;
        }
        text = (const char *)data;
    }
    if (o->json) {
        fputs(text, stdout);
        free(data);
        return 0;
    }
    cJSON *root = cJSON_Parse(text);
    const cJSON *sum = cJSON_GetObjectItemCaseSensitive(root, "summary");
    printf("target %s: %d documented figures are assumptions\n", t.name, t.n_assumptions);
    if (cJSON_IsString(sum)) printf("%s\n", sum->valuestring);
    printf("\n");
    for (const cJSON *it = root ? root->child : NULL; it; it = it->next) {
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(it, "value");
        if (!v) continue;
        char *vs = cJSON_PrintUnformatted(v);
        const cJSON *src = cJSON_GetObjectItemCaseSensitive(it, "source");
        const cJSON *as = cJSON_GetObjectItemCaseSensitive(it, "assumption");
        printf("%-24s %-10s %s%s\n", it->string, vs, cJSON_IsString(src) ? "" : "ASSUMPTION: ",
               cJSON_IsString(src) ? src->valuestring : (cJSON_IsString(as) ? as->valuestring : ""));
        free(vs);
    }
    cJSON_Delete(root);
    free(data);
    return 0;
}
