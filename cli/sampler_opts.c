/* sampler_opts.c: the sampler flags shared by generate and chat. */
#include <string.h>

#include "cli.h"

/* --top-k -> top_k: the sampler flags are its YAML keys with dashes. */
static const char *sampler_key(const char *flag, char *buf, size_t n) {
    static const char *const FLAGS[] = {"--top-k",
                                        "--top-p",
                                        "--min-p",
                                        "--typical",
                                        "--repeat-penalty",
                                        "--repeat-last-n",
                                        "--presence-penalty",
                                        "--frequency-penalty",
                                        "--mirostat",
                                        "--mirostat-tau",
                                        "--mirostat-eta",
                                        NULL};
    if (!strcmp(flag, "--sampler-order")) return "order";
    for (int i = 0; FLAGS[i]; i++) {
        if (strcmp(flag, FLAGS[i]) || strlen(flag) - 2 >= n) continue;
        size_t k = 0;
        for (const char *p = flag + 2; *p; p++) buf[k++] = *p == '-' ? '_' : *p;
        buf[k] = 0;
        return buf;
    }
    return NULL;
}

int cli_sampler_opt(LumiSamplerCfg *sc, int argc, char **argv, int *i) {
    const char *a = argv[*i], *v, *key;
    char keybuf[32];
    LumiErr se;
    double d;
    uint64_t u;
    if (!strcmp(a, "-t") || !strcmp(a, "--temperature")) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        if (lumi_parse_float(v, &d) || d < 0) return cli_error("-t: '%s' is not a temperature >= 0", v), -1;
        sc->temperature = (float)d;
    } else if ((key = sampler_key(a, keybuf, sizeof keybuf))) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        if (lumi_sampler_set(sc, key, v, &se)) return cli_error("%s: %s", a, se.msg), -1;
    } else if (!strcmp(a, "--seed") || !strcmp(a, "-s")) {
        if (!(v = cli_value(argc, argv, i))) return -1;
        if (lumi_parse_u64(v, &u)) return cli_error("--seed: '%s' is not an unsigned integer", v), -1;
        sc->seed = u;
    } else {
        return 0;
    }
    return 1;
}
