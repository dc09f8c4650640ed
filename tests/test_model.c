/* test_model.c: checkpoint loading and header validation. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/vfs.h>
#include <unistd.h>

#include "helpers.h"

static const char *write_header(const char *name, int32_t d, int32_t h, int32_t l, int32_t nh, int32_t kv, int32_t v,
                                int32_t s) {
    const char *p = th_path(name);
    FILE *f = fopen(p, "wb");
    int32_t hdr[7] = {d, h, l, nh, kv, v, s};
    fwrite(hdr, sizeof hdr, 1, f);
    float zero[64] = {0};
    fwrite(zero, sizeof zero, 1, f);
    fclose(f);
    return p;
}

static void expect_reject(const char *path, const char *needle) {
    LumiModel m;
    LumiErr e;
    ck_assert_int_eq(lumi_model_load(path, &m, &e), -1);
    ck_assert_msg(strstr(e.msg, needle), "error '%s' lacks '%s'", e.msg, needle);
    ck_assert_msg(strstr(e.msg, path), "error '%s' does not name the file", e.msg);
}

START_TEST(rejects_bad_headers) {
    expect_reject(write_header("neg.bin", -8, 16, 1, 2, 2, 16, 8), "dim must be positive");
    expect_reject(write_header("zero_layers.bin", 8, 16, 0, 2, 2, 16, 8), "n_layers must be positive");
    expect_reject(write_header("div.bin", 10, 16, 1, 3, 3, 16, 8), "not divisible by n_heads");
    expect_reject(write_header("gqa.bin", 8, 16, 1, 4, 3, 16, 8), "not divisible by n_kv_heads");
    expect_reject(write_header("odd.bin", 6, 16, 1, 2, 2, 16, 8), "odd");
    expect_reject(write_header("huge.bin", 1 << 20, 16, 1, 2, 2, 16, 8), "exceeds the limit");
    expect_reject(write_header("huge2.bin", 65536, 262144, 1024, 1024, 1024, 4000000, 8), "too large");
    expect_reject(write_header("small.bin", 8, 16, 1, 2, 2, 16, 8), "truncated");
    const char *p = th_path("tiny_hdr.bin");
    FILE *f = fopen(p, "wb");
    fwrite("abc", 1, 3, f);
    fclose(f);
    expect_reject(p, "truncated header");
}
END_TEST

/* Copy `src` to `dst` with `delta` bytes appended (>0) or removed (<0). */
static const char *resized_copy(const char *src, const char *name, long delta) {
    char *data;
    size_t len;
    LumiErr e;
    ck_assert(lumi_read_file(src, &data, &len, &e) == 0);
    const char *p = th_path(name);
    FILE *f = fopen(p, "wb");
    fwrite(data, 1, delta < 0 ? len - (size_t)(-delta) : len, f);
    for (long i = 0; i < delta; i++) fputc(0, f);
    fclose(f);
    free(data);
    return p;
}

START_TEST(rejects_size_mismatch) {
    const char *ok = th_synth("ok.bin", 16, 32, 2, 4, 2, 64, 16, 1, 7);
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(ok, &m, &e) == 0, "%s", e.msg);
    ck_assert(!m.cfg.shared_classifier);
    lumi_model_free(&m);
    expect_reject(resized_copy(ok, "trunc.bin", -4), "truncated");
    expect_reject(resized_copy(ok, "trunc2.bin", -1), "truncated");
    expect_reject(resized_copy(ok, "extra.bin", 4), "size mismatch");
}
END_TEST

/* A v1 file (256-byte header, norms first) written from a v0 model loads
 * to the same weights. */
static void put(FILE *f, const void *p, size_t n_floats) { fwrite(p, 4, n_floats, f); }

START_TEST(v1_matches_v0) {
    const char *v0 = th_synth("v0.bin", 16, 24, 2, 4, 2, 40, 12, 1, 3);
    LumiModel a, b;
    LumiErr e;
    ck_assert(lumi_model_load(v0, &a, &e) == 0);
    const LumiConfig *c = &a.cfg;
    const char *v1 = th_path("v1.bin");
    FILE *f = fopen(v1, "wb");
    char hdr[256] = {0};
    uint32_t magic = 0x616b3432;
    int32_t ints[8] = {1, c->dim, c->hidden_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->vocab_size, c->seq_len};
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, ints, sizeof ints);
    hdr[36] = 0; /* separate classifier */
    fwrite(hdr, 1, 256, f);
    size_t d = (size_t)c->dim, kv = (size_t)c->kv_dim, h = (size_t)c->hidden_dim;
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].rms_att.data, d);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].rms_ffn.data, d);
    put(f, a.w.rms_final.data, d);
    put(f, a.w.tok_emb.data, (size_t)c->vocab_size * d);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].wq.data, d * d);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].wk.data, kv * d);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].wv.data, kv * d);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].wo.data, d * d);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].w1.data, h * d);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].w2.data, d * h);
    for (int l = 0; l < c->n_layers; l++) put(f, a.w.layers[l].w3.data, h * d);
    put(f, a.w.cls.data, (size_t)c->vocab_size * d);
    fclose(f);
    ck_assert_msg(lumi_model_load(v1, &b, &e) == 0, "%s", e.msg);
    ck_assert_str_eq(b.format, "llama2c-v1");
    ck_assert(memcmp(&a.cfg, &b.cfg, sizeof a.cfg) == 0);
    ck_assert(memcmp(a.w.cls.data, b.w.cls.data, (size_t)c->vocab_size * d * 4) == 0);
    ck_assert(memcmp(a.w.layers[1].w2.data, b.w.layers[1].w2.data, d * h * 4) == 0);
    ck_assert(memcmp(a.w.layers[1].rms_ffn.data, b.w.layers[1].rms_ffn.data, d * 4) == 0);
    ck_assert(memcmp(a.w.rms_final.data, b.w.rms_final.data, d * 4) == 0);
    lumi_model_free(&a);
    lumi_model_free(&b);
    /* a v1 file one byte short is rejected too */
    expect_reject(resized_copy(v1, "v1_trunc.bin", -1), "truncated");
}
END_TEST

START_TEST(default_model_header) {
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(DEFAULT_MODEL, &m, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(m.cfg.dim, 128);
    ck_assert_int_eq(m.cfg.n_kv_heads, 4);
    ck_assert_int_eq(m.cfg.vocab_size, 512);
    ck_assert(m.cfg.shared_classifier);
    ck_assert_uint_eq(lumi_param_count(&m.cfg), 973184);
    lumi_model_free(&m);
}
END_TEST

/* Issue 13 bug 2: a valid v1 header with seq_len 2^20 in a sparse file.
 * Loading must not allocate by seq_len (the RoPE table grows with the
 * positions a run reaches): inspect runs in 1 GB of address space, where a
 * table for every position (4 GB here) cannot be allocated. */
START_TEST(huge_context_costs_nothing_until_used) {
    const char *p = th_path("huge_ctx.bin");
    int32_t d = 1024, h = 1024, V = 32, S = 1 << 20;
    char hdr[256] = {0};
    uint32_t magic = 0x616b3432;
    int32_t ints[8] = {1, d, h, 1, 1, 1, V, S};
    memcpy(hdr, &magic, 4);
    memcpy(hdr + 4, ints, sizeof ints);
    hdr[36] = 1; /* shared classifier */
    FILE *f = fopen(p, "wb");
    fwrite(hdr, 1, 256, f);
    fclose(f);
    /* rms_att, rms_ffn, rms_final, tok_emb, wq wk wv wo, w1 w2 w3 (zeros, sparse) */
    long floats = 3L * d + (long)V * d + 4L * d * d + 3L * h * d;
    ck_assert_int_eq(truncate(p, 256 + 4 * floats), 0);
    char cmd[700], *out;
    snprintf(cmd, sizeof cmd, "%s./lumi inspect %s 2>&1", th_ulimit_1g(), p);
    int rc = th_run(cmd, &out);
    ck_assert_msg(rc == 0 && strstr(out, "seq_len:           1048576"), "rc %d: %s", rc, out);
    free(out);
    /* and running it on the default path (cache=fixed) allocates by the run
     * (prompt + steps), not by the 2^20 positions the header claims (8 GB of
     * cache per layer here) */
    snprintf(cmd, sizeof cmd, "%s./lumi logits -m %s --ids 1,2,3 -o %s 2>&1", th_ulimit_1g(), p, th_path("huge.npy"));
    rc = th_run(cmd, &out);
    ck_assert_msg(rc == 0, "logits rc %d: %s", rc, out);
    free(out);
    snprintf(cmd, sizeof cmd, "%s./lumi generate -m %s --ids 1,2,3 -n 4 -t 0 --json 2>&1", th_ulimit_1g(), p);
    rc = th_run(cmd, &out);
    ck_assert_msg(rc == 0 && strstr(out, "\"stop\":\"steps\""), "generate rc %d: %s", rc, out);
    free(out);
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(p, &m, &e) == 0, "%s", e.msg);
    ck_assert_int_eq(m.rope.seq_len, 0);
    ck_assert_msg(lumi_model_rope_reserve(&m, 5, &e) == 0, "%s", e.msg);
    ck_assert(m.rope.seq_len >= 5 && m.rope.seq_len <= 64);
    ck_assert_int_eq(lumi_model_rope_reserve(&m, S + 1, &e), -1);
    ck_assert_msg(strstr(e.msg, "context length"), "%s", e.msg);
    lumi_model_free(&m);
}
END_TEST

/* The lazily grown table holds exactly the angles a full table would. */
START_TEST(rope_table_grows_exactly) {
    LumiConfig c = {.dim = 32, .n_heads = 2, .n_kv_heads = 2, .seq_len = 300, .rope_theta = 10000.0f};
    lumi_config_derive(&c);
    LumiRope a, b;
    LumiErr e;
    lumi_rope_init(&a, &c);
    lumi_rope_init(&b, &c);
    for (int p = 1; p <= 300; p += 7) ck_assert(lumi_rope_reserve(&a, p, &e) == 0);
    ck_assert(lumi_rope_reserve(&a, 300, &e) == 0);
    ck_assert(lumi_rope_reserve(&b, 300, &e) == 0);
    ck_assert_int_eq(a.seq_len, 300);
    for (int p = 0; p < 300; p++)
        for (int i = 0; i < 8; i++) {
            double ang = p * pow(10000.0, -2.0 * i / 16);
            ck_assert(a.cos[p * 8 + i] == (float)cos(ang) && a.sin[p * 8 + i] == (float)sin(ang));
            ck_assert(a.cos[p * 8 + i] == b.cos[p * 8 + i]);
        }
    lumi_rope_free(&a);
    lumi_rope_free(&b);
}
END_TEST

/* VmFlags of the mapping that holds p, from /proc/self/smaps ("" if not found). */
static void vm_flags(const void *p, char *out, size_t n) {
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    int in = 0;
    out[0] = 0;
    if (!f) return;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx ", &lo, &hi) == 2 && strchr(line, '-') < strchr(line, ' '))
            in = (uintptr_t)p >= lo && (uintptr_t)p < hi;
        else if (in && !strncmp(line, "VmFlags:", 8)) snprintf(out, n, "%.200s", line + 8);
    }
    fclose(f);
}

static int count_maps(void) {
    FILE *f = fopen("/proc/self/maps", "r");
    int n = 0, ch;
    while (f && (ch = fgetc(f)) != EOF) n += ch == '\n';
    if (f) fclose(f);
    return n;
}

/* A model file of 2 MiB or more is mapped 2 MiB aligned with the huge page
 * hint (so the kernel may map large page-cache folios with one entry each),
 * reads back the file's bytes, and leaves no reservation behind; a smaller
 * file gets a plain mapping. */
START_TEST(map_file_is_huge_page_aligned) {
    const char *big = th_path("map_big.bin"), *small = th_path("map_small.bin");
    size_t nb = LUMI_HUGE_PAGE + 12345, ns = 100000;
    unsigned char *bytes = malloc(nb);
    for (size_t i = 0; i < nb; i++) bytes[i] = (unsigned char)(i * 131 + 7);
    LumiErr e;
    ck_assert(lumi_write_atomic(big, bytes, nb, &e) == 0);
    ck_assert(lumi_write_atomic(small, bytes, ns, &e) == 0);
    LumiMap m;
    ck_assert_msg(lumi_map_file(big, &m, &e) == 0, "%s", e.msg);
    ck_assert_uint_eq(m.size, nb);
    ck_assert_msg((uintptr_t)m.data % LUMI_HUGE_PAGE == 0, "mapped at %p", m.data);
    ck_assert(memcmp(m.data, bytes, nb) == 0);
    char flags[256];
    vm_flags(m.data, flags, sizeof flags);
    ck_assert_msg(strstr(flags, " hg"), "no MADV_HUGEPAGE on the mapping: VmFlags:%s", flags);
    lumi_unmap(&m);
    /* mapping and unmapping leaves the address space as it was */
    int before = count_maps();
    for (int i = 0; i < 50; i++) {
        ck_assert(lumi_map_file(big, &m, &e) == 0);
        lumi_unmap(&m);
    }
    ck_assert_int_eq(count_maps(), before);
    ck_assert(lumi_map_file(small, &m, &e) == 0);
    ck_assert(memcmp(m.data, bytes, ns) == 0);
    vm_flags(m.data, flags, sizeof flags);
    ck_assert_msg(!strstr(flags, " hg"), "a small file got the hint: VmFlags:%s", flags);
    lumi_unmap(&m);
    free(bytes);
}
END_TEST

/* A model file lumi writes leaves the page cache (so the next load reads it
 * into large folios): none of its pages are resident afterwards. */
START_TEST(written_model_leaves_page_cache) {
    const char *model = th_synth("cache_drop.bin", 256, 512, 2, 4, 4, 1000, 64, 0, 5);
    struct statfs fs;
    if (statfs(model, &fs) == 0 && fs.f_type == 0x01021994) /* TMPFS_MAGIC: the cache is the file */
        TH_SKIP("a disk-backed test folder", "%s is on tmpfs, whose pages cannot be dropped", model);
    LumiMap m;
    LumiErr e;
    ck_assert(lumi_map_file(model, &m, &e) == 0);
    ck_assert_msg(m.size >= LUMI_HUGE_PAGE, "the model is only %zu bytes", m.size);
    size_t page = (size_t)sysconf(_SC_PAGESIZE), np = (m.size + page - 1) / page, resident = 0;
    unsigned char *vec = malloc(np);
    ck_assert(mincore(m.data, m.size, vec) == 0);
    for (size_t i = 0; i < np; i++) resident += vec[i] & 1;
    free(vec);
    lumi_unmap(&m);
    ck_assert_msg(resident == 0, "%zu of %zu pages of a freshly written model are still cached", resident, np);
}
END_TEST

/* kB of the mapping at addr on 2 MiB page-table entries (FilePmdMapped), -1
 * if /proc/self/smaps does not list it */
static long pmd_mapped_kb(const void *addr) {
    FILE *f = fopen("/proc/self/smaps", "r");
    char line[512];
    long kb = -1;
    int in = 0;
    while (f && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (!isupper((unsigned char)line[0]) && sscanf(line, "%lx-%lx ", &lo, &hi) == 2) /* a mapping's line */
            in = lo <= (uintptr_t)addr && (uintptr_t)addr < hi;
        else if (in && sscanf(line, "FilePmdMapped: %ld kB", &kb) == 1) break;
    }
    if (f) fclose(f);
    return kb;
}

/* Bytes written by this process and dropped from the page cache, mapped
 * with the huge-page hint and touched once per 2 MiB: the kB the kernel
 * maps on 2 MiB entries (0 where the file system or kernel gives no large
 * folios, or transparent huge pages are off) */
static long control_pmd_kb(const char *path, size_t n) {
    FILE *f = fopen(path, "wb");
    char *buf = calloc(1, n);
    ck_assert(f && buf && fwrite(buf, 1, n, f) == n);
    lumi_drop_file_cache(f);
    fclose(f);
    free(buf);
    LumiMap m;
    LumiErr e;
    ck_assert(lumi_map_file(path, &m, &e) == 0);
    volatile unsigned char s = 0;
    for (size_t i = 0; i < m.size; i += LUMI_HUGE_PAGE) s += ((const unsigned char *)m.data)[i];
    long kb = pmd_mapped_kb(m.data);
    lumi_unmap(&m);
    return kb;
}

/* A model loaded from a file not in the page cache sits on 2 MiB pages,
 * even after the loader has read its header and scanned every q8_0 scale:
 * asynchronous readahead would put the first tens of MB in small folios
 * (measured: 78 of 116 MB on 2 MiB pages before MADV_RANDOM). */
START_TEST(loaded_model_is_on_huge_pages) {
    const char *model = th_path("pmd_q8.gguf");
    char cmd[512];
    snprintf(cmd, sizeof cmd,
             "./lumi synth --dim 512 --hidden 1536 --layers 4 --heads 8 --kv-heads 8 --vocab 8000 --seq 64 "
             "--dtype q8_0 -o %s 2>&1",
             model);
    ck_assert_int_eq(th_run(cmd, NULL), 0);
    struct statfs fs;
    if (statfs(model, &fs) == 0 && fs.f_type == 0x01021994)
        TH_SKIP("a disk-backed test folder", "%s is on tmpfs, whose pages cannot be dropped", model);
    long control = control_pmd_kb(th_path("pmd_control.bin"), 8 * LUMI_HUGE_PAGE);
    if (control <= 0)
        TH_SKIP("2 MiB page-cache folios", "a plain file here maps %ld kB on 2 MiB pages (THP off, or a file "
                "system without large folios)", control);
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(model, &m, &e) == 0, "%s", e.msg);
    volatile unsigned char s = 0;
    for (size_t i = 0; i < m.map.size; i += 4096) s += ((const unsigned char *)m.map.data)[i];
    long kb = pmd_mapped_kb(m.map.data), whole = (long)(m.map.size / LUMI_HUGE_PAGE) * 2048;
    ck_assert_msg(whole >= 8 * 2048, "the model is only %zu bytes", m.map.size);
    /* the first 2 MiB hold the header, read before the weights' mapping */
    ck_assert_msg(kb >= whole - 2048, "%ld of %ld kB of the model on 2 MiB pages", kb, whole);
    lumi_model_free(&m);
}
END_TEST

Suite *suite_model(void) {
    Suite *s = suite_create("model");
    TCase *tc = tcase_create("load");
    tcase_add_test(tc, rejects_bad_headers);
    tcase_add_test(tc, map_file_is_huge_page_aligned);
    tcase_add_test(tc, written_model_leaves_page_cache);
    tcase_add_test(tc, loaded_model_is_on_huge_pages);
    tcase_add_test(tc, rejects_size_mismatch);
    tcase_add_test(tc, v1_matches_v0);
    tcase_add_test(tc, default_model_header);
    tcase_add_test(tc, huge_context_costs_nothing_until_used);
    tcase_add_test(tc, rope_table_grows_exactly);
    suite_add_tcase(s, tc);
    return s;
}
