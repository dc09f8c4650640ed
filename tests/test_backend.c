/* test_backend.c: the backend interface itself. A "handles" backend keeps
 * every buffer and weight behind an opaque handle that is not a float
 * pointer (as an OpenCL cl_mem is not) and checks every reference it is
 * given against its allocation; running forward.c on it must give the ref
 * backend's logits bitwise. So forward.c neither dereferences nor offsets
 * backend memory itself, and every offset it computes stays in bounds.
 * Also: a backend that lacks a dtype is refused by name. */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/forward.h"
#include "../paths/session.h"
#include "helpers.h"

extern const LumiBackendOps lumi_backend_ref;
#define REF lumi_backend_ref

#define MAGIC 0x6c756d69u
typedef struct {
    unsigned magic;
    size_t n;   /* floats */
    float *mem; /* never handed out */
} Handle;

typedef struct {
    void *ref;      /* the ref backend's context */
    LumiWeights w;  /* every data pointer replaced by a Handle */
    LumiLayer *layers;
    Handle *whandles;
    int n_wh;
    int bad_refs;   /* references outside an allocation */
} Hb;

static Handle *handle_of(const void *p) {
    Handle *h = (Handle *)p;
    return h && h->magic == MAGIC ? h : NULL;
}

/* An f32 LumiRef of n elements, checked and turned into a host ref. */
static LumiRef unwrap(Hb *c, LumiRef r, size_t n) {
    Handle *h = handle_of(r.buf);
    if (!h || r.off > h->n || n > h->n - r.off) {
        c->bad_refs++;
        static float dummy[1 << 16];
        return lumi_ref((LumiBuf *)(void *)dummy);
    }
    return lumi_ref((LumiBuf *)(void *)(h->mem + r.off));
}

static LumiMat unwrap_mat(const LumiMat *m) {
    LumiMat u = *m;
    if (m->data) u.data = handle_of(m->data)->mem;
    return u;
}

static void wrap_mat(Hb *c, LumiMat *m) {
    if (!m->data) return;
    Handle *h = &c->whandles[c->n_wh++];
    *h = (Handle){MAGIC, (size_t)m->rows * (size_t)m->cols, (float *)m->data};
    m->data = h;
}

static int hb_supports(LumiOp op, LumiDType t) { return REF.supports(op, t); }

static int hb_init(void **ctx, const LumiModel *m, const LumiWeights *w, const LumiBackendOpts *o, LumiErr *e) {
    Hb *c = calloc(1, sizeof *c);
    if (REF.init(&c->ref, m, w, o, e) != 0) return free(c), -1;
    int L = m->cfg.n_layers;
    c->w = *w;
    c->layers = malloc((size_t)L * sizeof *c->layers);
    memcpy(c->layers, w->layers, (size_t)L * sizeof *c->layers);
    c->w.layers = c->layers;
    c->whandles = calloc((size_t)(12 * L + 3), sizeof(Handle));
    wrap_mat(c, &c->w.tok_emb), wrap_mat(c, &c->w.rms_final), wrap_mat(c, &c->w.cls);
    for (int l = 0; l < L; l++) {
        LumiLayer *y = &c->layers[l];
        LumiMat *ms[] = {&y->rms_att, &y->rms_ffn, &y->wq, &y->wk, &y->wv, &y->wo,
                         &y->w1,      &y->w2,      &y->w3, &y->bq, &y->bk, &y->bv};
        for (int i = 0; i < 12; i++) wrap_mat(c, ms[i]);
    }
    *ctx = c;
    return 0;
}

static void hb_free(void *ctx) {
    Hb *c = ctx;
    REF.free(c->ref);
    free(c->layers), free(c->whandles), free(c);
}

static const LumiWeights *hb_weights(void *ctx) { return &((Hb *)ctx)->w; }

static LumiBuf *hb_alloc(void *ctx, size_t n, LumiErr *e) {
    (void)ctx, (void)e;
    Handle *h = malloc(sizeof *h);
    *h = (Handle){MAGIC, n, calloc(n ? n : 1, sizeof(float))};
    return (LumiBuf *)(void *)h;
}

static void hb_release(void *ctx, LumiBuf *b) {
    (void)ctx;
    Handle *h = handle_of(b);
    h->magic = 0;
    free(h->mem), free(h);
}

static int hb_to_host(void *ctx, float *dst, LumiRef src, size_t n, LumiErr *e) {
    return REF.to_host(((Hb *)ctx)->ref, dst, unwrap(ctx, src, n), n, e);
}

static void hb_copy(void *ctx, LumiRef d, LumiRef s, size_t n) {
    REF.copy(((Hb *)ctx)->ref, unwrap(ctx, d, n), unwrap(ctx, s, n), n);
}

static void hb_embed(void *ctx, LumiRef x, const LumiMat *emb, const int *tok, int n) {
    LumiMat u = unwrap_mat(emb);
    REF.embed(((Hb *)ctx)->ref, unwrap(ctx, x, (size_t)n * emb->cols), &u, tok, n);
}

static void hb_rmsnorm(void *ctx, LumiRef o, LumiRef x, const LumiMat *w, int n, int dim, float eps) {
    LumiMat u = unwrap_mat(w);
    size_t len = (size_t)n * dim;
    REF.rmsnorm(((Hb *)ctx)->ref, unwrap(ctx, o, len), unwrap(ctx, x, len), &u, n, dim, eps);
}

static void hb_matmul(void *ctx, LumiRef o, int os, LumiRef x, const LumiMat *w, const LumiMat *b, int n) {
    LumiMat uw = unwrap_mat(w), ub = b ? unwrap_mat(b) : (LumiMat){0};
    size_t out_len = (size_t)(n - 1) * os + w->rows;
    REF.matmul(((Hb *)ctx)->ref, unwrap(ctx, o, out_len), os, unwrap(ctx, x, (size_t)n * w->cols), &uw, b ? &ub : NULL,
               n);
}

static void hb_rope(void *ctx, LumiRef x, int stride, int n, int pos0, int heads, int hs) {
    REF.rope(((Hb *)ctx)->ref, unwrap(ctx, x, (size_t)(n - 1) * stride + (size_t)heads * hs), stride, n, pos0, heads,
             hs);
}

static void hb_attention(void *ctx, LumiRef o, LumiRef q, LumiRef k, LumiRef v, int n, int pos0) {
    /* the sizes attention reads: [n, dim] queries and [pos0 + n, kv_dim] cache rows */
    Hb *c = ctx;
    Handle *hq = handle_of(q.buf), *hk = handle_of(k.buf);
    size_t qn = hq ? hq->n - q.off : 0, kn = hk ? hk->n - k.off : 0;
    (void)pos0;
    REF.attention(c->ref, unwrap(ctx, o, qn), unwrap(ctx, q, qn), unwrap(ctx, k, kn), unwrap(ctx, v, kn), n, pos0);
}

static void hb_swiglu(void *ctx, LumiRef a, LumiRef b, size_t len) {
    REF.swiglu(((Hb *)ctx)->ref, unwrap(ctx, a, len), unwrap(ctx, b, len), len);
}

static void hb_add(void *ctx, LumiRef a, LumiRef b, size_t len) {
    REF.add(((Hb *)ctx)->ref, unwrap(ctx, a, len), unwrap(ctx, b, len), len);
}

static const LumiBackendOps HANDLES = {
    .name = "handles", .doc = "test: opaque handles over ref", .init = hb_init, .free = hb_free,
    .weights = hb_weights, .supports = hb_supports, .alloc = hb_alloc, .release = hb_release,
    .to_host = hb_to_host, .copy = hb_copy, .embed = hb_embed, .rmsnorm = hb_rmsnorm,
    .matmul = hb_matmul, .rope = hb_rope, .attention = hb_attention, .swiglu = hb_swiglu, .add = hb_add,
};

/* Runs tok[0..T) through forward.c on `be` in two calls (so the second
 * reads cache rows the first wrote): logits of the last n2 positions. */
static float *run_two_calls(const LumiBackendOps *be, const LumiModel *m, const int *tok, int T, int n1, int *bad) {
    const LumiConfig *c = &m->cfg;
    void *ctx;
    LumiErr e;
    LumiBackendOpts o = {1, 0, -1};
    ck_assert_msg(be->init(&ctx, m, &m->w, &o, &e) == 0, "%s", e.msg);
    ck_assert_msg(lumi_model_rope_reserve(m, T, &e) == 0, "%s", e.msg); /* the session does this per call */
    LumiBuf *b[7], *kb[64], *vb[64];
    size_t sizes[7] = {(size_t)T * c->dim,        (size_t)T * c->dim,        (size_t)T * c->dim,
                       (size_t)T * c->dim,        (size_t)T * c->hidden_dim, (size_t)T * c->hidden_dim,
                       (size_t)T * c->vocab_size};
    for (int i = 0; i < 7; i++) b[i] = be->alloc(ctx, sizes[i], &e);
    LumiRef k[64], v[64];
    ck_assert(c->n_layers <= 64);
    for (int l = 0; l < c->n_layers; l++) {
        kb[l] = be->alloc(ctx, (size_t)T * c->kv_dim, &e), vb[l] = be->alloc(ctx, (size_t)T * c->kv_dim, &e);
        k[l] = lumi_ref(kb[l]), v[l] = lumi_ref(vb[l]);
    }
    LumiForward f = {c,           be,          ctx,         be->weights(ctx), lumi_ref(b[0]), lumi_ref(b[1]),
                     lumi_ref(b[2]), lumi_ref(b[3]), lumi_ref(b[4]), lumi_ref(b[5]), lumi_ref(b[6]), k, v};
    lumi_forward(&f, tok, n1, 0, n1);           /* no logits */
    lumi_forward(&f, tok + n1, T - n1, n1, 0); /* every row's logits */
    size_t N = (size_t)(T - n1) * c->vocab_size;
    float *out = malloc(N * sizeof(float));
    ck_assert_msg(be->to_host(ctx, out, lumi_ref(b[6]), N, &e) == 0, "%s", e.msg);
    if (bad) *bad = be == &HANDLES ? ((Hb *)ctx)->bad_refs : 0;
    for (int i = 0; i < 7; i++) be->release(ctx, b[i]);
    for (int l = 0; l < c->n_layers; l++) be->release(ctx, kb[l]), be->release(ctx, vb[l]);
    be->free(ctx);
    return out;
}

START_TEST(forward_never_touches_backend_memory) {
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(th_synth("handles.bin", 48, 96, 2, 6, 2, 73, 24, 1, 3), &m, &e) == 0, "%s", e.msg);
    int tok[11] = {1, 5, 9, 72, 0, 33, 33, 4, 18, 60, 2}, bad = -1;
    float *want = run_two_calls(&REF, &m, tok, 11, 4, NULL);
    float *got = run_two_calls(&HANDLES, &m, tok, 11, 4, &bad);
    ck_assert_int_eq(bad, 0);
    ck_assert_msg(memcmp(want, got, (size_t)7 * m.cfg.vocab_size * sizeof(float)) == 0,
                  "forward.c on opaque handles differs from ref");
    free(want), free(got);
    lumi_model_free(&m);
}
END_TEST

/* The bounds check above can fail: a reference past its allocation is caught. */
START_TEST(handles_catch_out_of_bounds) {
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(th_synth("handles2.bin", 16, 32, 1, 2, 2, 20, 8, 0, 4), &m, &e) == 0, "%s", e.msg);
    void *ctx;
    LumiBackendOpts o = {1, 0, -1};
    ck_assert(HANDLES.init(&ctx, &m, &m.w, &o, &e) == 0);
    LumiBuf *a = HANDLES.alloc(ctx, 32, &e), *b = HANDLES.alloc(ctx, 32, &e);
    HANDLES.add(ctx, lumi_ref(a), lumi_ref(b), 32);
    ck_assert_int_eq(((Hb *)ctx)->bad_refs, 0);
    HANDLES.add(ctx, lumi_at(lumi_ref(a), 1), lumi_ref(b), 32);
    ck_assert_int_eq(((Hb *)ctx)->bad_refs, 1);
    HANDLES.release(ctx, a), HANDLES.release(ctx, b);
    HANDLES.free(ctx);
    lumi_model_free(&m);
}
END_TEST

static int no_f32(LumiOp op, LumiDType t) { return op == LUMI_OP_EMBED || t != LUMI_F32; }

/* A backend that cannot run a dtype is refused before anything runs, naming
 * the backend, the tensor and the dtype. */
START_TEST(unsupported_dtype_refused_by_name) {
    LumiModel m;
    LumiErr e;
    ck_assert_msg(lumi_model_load(th_synth("nodtype.bin", 16, 32, 2, 2, 2, 20, 8, 0, 4), &m, &e) == 0, "%s", e.msg);
    LumiBackendOps be = HANDLES;
    be.supports = no_f32;
    ck_assert_int_eq(lumi_backend_check_weights(&be, &m, &m.w, &e), -1);
    ck_assert_msg(strstr(e.msg, "backend handles") && strstr(e.msg, "layers.0.wq") && strstr(e.msg, "f32"), "%s",
                  e.msg);
    ck_assert_int_eq(lumi_backend_check_weights(&HANDLES, &m, &m.w, &e), 0);
    lumi_model_free(&m);
}
END_TEST

Suite *suite_backend(void) {
    Suite *s = suite_create("backend");
    TCase *tc = tcase_create("interface");
    tcase_add_test(tc, forward_never_touches_backend_memory);
    tcase_add_test(tc, handles_catch_out_of_bounds);
    tcase_add_test(tc, unsupported_dtype_refused_by_name);
    suite_add_tcase(s, tc);
    return s;
}
