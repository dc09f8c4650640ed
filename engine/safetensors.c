/* safetensors.c: safetensors containers. A file is a u64 little-endian
 * header length, a JSON header mapping tensor names to {dtype, shape,
 * data_offsets [begin, end)} relative to the data that follows it. A
 * sharded checkpoint adds model.safetensors.index.json, whose "weight_map"
 * names the shard of every tensor.
 *
 * Everything is checked against the files before a caller allocates
 * anything from it: offsets inside the shard, byte counts equal to the
 * shape, names unique across shards. JSON is read by jansson. */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "hf.h"

#define MAX_HEADER (100u << 20) /* larger than any real header by 100x */
#define MAX_SHARDS 4096

static int dtype_of(const char *s, LumiDType *t, size_t *elem) {
    if (!strcmp(s, "F32")) *t = LUMI_F32, *elem = 4;
    else if (!strcmp(s, "BF16")) *t = LUMI_BF16, *elem = 2;
    else if (!strcmp(s, "F16")) *t = LUMI_F16, *elem = 2;
    else return -1;
    return 0;
}

static int json_error(const char *path, const json_error_t *je, LumiErr *e) {
    return lumi_err(e, "%s: invalid JSON at line %d column %d: %s", path, je->line, je->column, je->text);
}

/* A non-negative JSON integer below 2^62 (jansson rejects 1.0 as an integer). */
static int json_size(const json_t *v, long long *out) {
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) >= (1LL << 62)) return -1;
    *out = json_integer_value(v);
    return 0;
}

/* Validates one header entry against the data section and appends it. */
static int add_tensor(LumiStSet *s, int shard, const char *name, const json_t *v, const unsigned char *data,
                      size_t data_size, LumiErr *e) {
    const char *path = s->files[shard];
    json_t *dt = json_object_get(v, "dtype"), *shape = json_object_get(v, "shape"),
           *off = json_object_get(v, "data_offsets");
    if (!json_is_object(v) || !json_is_string(dt) || !json_is_array(shape) || !json_is_array(off) ||
        json_array_size(off) != 2)
        return lumi_err(e, "%s: tensor '%s': needs dtype, shape and data_offsets [begin, end]", path, name);
    LumiStTensor t = {0};
    t.shard = shard;
    snprintf(t.dtype, sizeof t.dtype, "%s", json_string_value(dt));
    size_t elem = 0;
    t.known = dtype_of(t.dtype, &t.type, &elem) == 0;
    if (json_array_size(shape) > 8) return lumi_err(e, "%s: tensor '%s': more than 8 dimensions", path, name);
    t.ndim = (int)json_array_size(shape);
    size_t count = 1;
    for (int i = 0; i < t.ndim; i++) {
        if (json_size(json_array_get(shape, (size_t)i), &t.shape[i]) != 0 || t.shape[i] >= (1LL << 31))
            return lumi_err(e, "%s: tensor '%s': shape[%d] is not a dimension", path, name, i);
        if (lumi_mul_size(count, (size_t)t.shape[i], &count) != 0)
            return lumi_err(e, "%s: tensor '%s': shape overflows", path, name);
    }
    long long b, en;
    if (json_size(json_array_get(off, 0), &b) != 0 || json_size(json_array_get(off, 1), &en) != 0 || en < b ||
        (unsigned long long)en > data_size)
        return lumi_err(e, "%s: tensor '%s': data_offsets out of the file (data section is %zu bytes)", path, name,
                        data_size);
    size_t want;
    if (t.known && (lumi_mul_size(count, elem, &want) != 0 || want != (size_t)(en - b)))
        return lumi_err(e, "%s: tensor '%s': data_offsets span %lld bytes, shape and dtype need %zu", path, name,
                        en - b, count * elem);
    t.data = data + b;
    t.nbytes = (size_t)(en - b);
    t.name = lumi_xstrdup(name);
    if ((s->n & (s->n - 1)) == 0) /* capacity doubles at each power of two */
        s->t = lumi_xrealloc(s->t, ((size_t)s->n * 2 + 1) * sizeof *s->t);
    s->t[s->n++] = t;
    return 0;
}

/* Maps files[shard] and reads its header. */
static int open_shard(LumiStSet *s, int shard, LumiErr *e) {
    const char *path = s->files[shard];
    LumiMap *m = &s->maps[shard];
    if (lumi_map_file(path, m, e) != 0) return -1;
    uint64_t hl;
    if (m->size < 8) return lumi_err(e, "%s: truncated header", path);
    memcpy(&hl, m->data, 8);
    if (hl > m->size - 8 || hl > MAX_HEADER)
        return lumi_err(e, "%s: header length %llu exceeds the file", path, (unsigned long long)hl);
    json_error_t je;
    json_t *hdr = json_loadb((const char *)m->data + 8, (size_t)hl, JSON_REJECT_DUPLICATES, &je);
    if (!hdr) return json_error(path, &je, e);
    int rc = 0;
    if (!json_is_object(hdr)) rc = lumi_err(e, "%s: header is not a JSON object", path);
    const char *key;
    json_t *v;
    const unsigned char *data = (const unsigned char *)m->data + 8 + hl;
    json_object_foreach(hdr, key, v) {
        if (rc != 0) break;
        if (strcmp(key, "__metadata__") != 0) rc = add_tensor(s, shard, key, v, data, m->size - 8 - (size_t)hl, e);
    }
    json_decref(hdr);
    return rc;
}

static int by_name(const void *a, const void *b) {
    return strcmp(((const LumiStTensor *)a)->name, ((const LumiStTensor *)b)->name);
}

static int add_file(LumiStSet *s, const char *path) {
    for (int i = 0; i < s->n_files; i++)
        if (!strcmp(s->files[i], path)) return i;
    s->files = lumi_xrealloc(s->files, ((size_t)s->n_files + 1) * sizeof *s->files);
    s->maps = lumi_xrealloc(s->maps, ((size_t)s->n_files + 1) * sizeof *s->maps);
    s->files[s->n_files] = lumi_xstrdup(path);
    s->maps[s->n_files] = (LumiMap){0};
    return s->n_files++;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

/* Reads the index: the shard files, and each tensor's shard in *map. */
static int read_index(LumiStSet *s, const char *path, json_t **map, LumiErr *e) {
    char *text;
    size_t len;
    if (lumi_read_file(path, &text, &len, e) != 0) return -1;
    json_error_t je;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    free(text);
    if (!root) return json_error(path, &je, e);
    json_t *wm = json_object_get(root, "weight_map");
    if (!json_is_object(wm) || json_object_size(wm) == 0) {
        json_decref(root);
        return lumi_err(e, "%s: weight_map is missing or empty", path);
    }
    const char *slash = strrchr(path, '/');
    int dir_len = slash ? (int)(slash - path) + 1 : 0;
    const char *key;
    json_t *v;
    int rc = 0;
    json_object_foreach(wm, key, v) {
        const char *f = json_string_value(v);
        if (!f || !*f || strchr(f, '/') || !strcmp(f, "..")) {
            rc = lumi_err(e, "%s: weight_map['%s'] is not a file name in this folder", path, key);
            break;
        }
        if (s->n_files >= MAX_SHARDS) {
            rc = lumi_err(e, "%s: weight_map names more than %d shards", path, MAX_SHARDS);
            break;
        }
        char *p = lumi_xmalloc((size_t)dir_len + strlen(f) + 1);
        sprintf(p, "%.*s%s", dir_len, path, f);
        add_file(s, p);
        free(p);
    }
    if (rc == 0) *map = json_incref(wm);
    json_decref(root);
    return rc;
}

int lumi_st_open(const char *path, LumiStSet *s, LumiErr *e) {
    memset(s, 0, sizeof *s);
    json_t *map = NULL;
    int rc = 0;
    if (ends_with(path, ".index.json")) rc = read_index(s, path, &map, e);
    else add_file(s, path);
    for (int i = 0; i < s->n_files && rc == 0; i++) rc = open_shard(s, i, e);
    if (rc == 0 && s->n > 0) qsort(s->t, (size_t)s->n, sizeof *s->t, by_name);
    for (int i = 1; i < s->n && rc == 0; i++)
        if (!strcmp(s->t[i - 1].name, s->t[i].name))
            rc = lumi_err(e, "%s: tensor '%s' is in both %s and %s", path, s->t[i].name, s->files[s->t[i - 1].shard],
                          s->files[s->t[i].shard]);
    const char *key;
    json_t *v;
    if (map && rc == 0) {
        json_object_foreach(map, key, v) {
            const LumiStTensor *t = lumi_st_find(s, key);
            const char *want = json_string_value(v);
            const char *have = t ? strrchr(s->files[t->shard], '/') : NULL;
            have = have ? have + 1 : t ? s->files[t->shard] : NULL;
            if (!t || strcmp(have, want)) {
                rc = lumi_err(e, "%s: tensor '%s' is not in %s, the shard weight_map names", path, key, want);
                break;
            }
        }
        /* and no shard holds a tensor the index does not list */
        for (int i = 0; i < s->n && rc == 0; i++)
            if (!json_object_get(map, s->t[i].name))
                rc = lumi_err(e, "%s: tensor '%s' in %s is not in weight_map", path, s->t[i].name,
                              s->files[s->t[i].shard]);
    }
    json_decref(map);
    if (rc != 0) lumi_st_close(s);
    return rc;
}

const LumiStTensor *lumi_st_find(const LumiStSet *s, const char *name) {
    LumiStTensor key = {.name = (char *)name};
    if (s->n == 0) return NULL;
    return bsearch(&key, s->t, (size_t)s->n, sizeof *s->t, by_name);
}

void lumi_st_give_maps(LumiStSet *s, LumiModel *m) {
    m->shards = s->maps;
    m->n_shards = s->n_files;
    s->maps = NULL;
}

void lumi_st_close(LumiStSet *s) {
    for (int i = 0; i < s->n; i++) free(s->t[i].name);
    for (int i = 0; i < s->n_files; i++) {
        if (s->maps) lumi_unmap(&s->maps[i]);
        free(s->files[i]);
    }
    free(s->t);
    free(s->maps);
    free(s->files);
    memset(s, 0, sizeof *s);
}
