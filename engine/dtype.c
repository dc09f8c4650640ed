/* dtype.c: see dtype.h. */
#include "dtype.h"

#include <math.h>
#include <string.h>

static uint32_t bits(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return u;
}

float lumi_bf16_to_f32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

float lumi_f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31, exp = (h >> 10) & 0x1f, man = h & 0x3ffu, u;
    if (exp == 0) {
        float f = ldexpf((float)man, -24); /* zero or subnormal */
        return sign ? -f : f;
    }
    if (exp == 31) u = sign | 0x7f800000u | (man << 13); /* inf / nan */
    else u = sign | ((exp + 112) << 23) | (man << 13);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t lumi_f32_to_bf16(float f) {
    uint32_t u = bits(f);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((u >> 16) | 0x40); /* quiet NaN */
    return (uint16_t)((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

uint16_t lumi_f32_to_f16(float f) {
    uint32_t u = bits(f), sign = (u >> 16) & 0x8000u, a = u & 0x7fffffffu;
    if (a > 0x7f800000u) return (uint16_t)(sign | 0x7e00u);  /* NaN */
    if (a >= 0x477ff000u) return (uint16_t)(sign | 0x7c00u); /* rounds past 65504: inf */
    if (a < 0x38800000u) {
        /* below f16's smallest normal 2^-14: a multiple of 2^-24, rounded
         * to nearest even by the FPU (exact: |f| * 2^24 < 2^10) */
        float m;
        memcpy(&m, &a, 4);
        return (uint16_t)(sign | (uint32_t)nearbyintf(m * 16777216.0f));
    }
    /* normal: drop 13 mantissa bits, round to nearest even; a carry into
     * the exponent is the correct result */
    uint32_t r = a + 0xfffu + ((a >> 13) & 1u);
    return (uint16_t)(sign | ((r - 0x38000000u) >> 13));
}

static void quantize_q8_0(const float *x, unsigned char *blk) {
    float amax = 0;
    for (int i = 0; i < LUMI_Q8_BLOCK; i++) amax = fmaxf(amax, fabsf(x[i]));
    float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
    uint16_t h = lumi_f32_to_f16(d);
    memcpy(blk, &h, 2);
    for (int i = 0; i < LUMI_Q8_BLOCK; i++) blk[2 + i] = (unsigned char)(int8_t)roundf(x[i] * id);
}

void lumi_widen(LumiDType type, const void *src, size_t n, float *dst) {
    const unsigned char *s = src;
    uint16_t h;
    switch (type) {
    case LUMI_F32: memcpy(dst, src, n * 4); break;
    case LUMI_BF16:
        for (size_t i = 0; i < n; i++) memcpy(&h, s + 2 * i, 2), dst[i] = lumi_bf16_to_f32(h);
        break;
    case LUMI_F16:
        for (size_t i = 0; i < n; i++) memcpy(&h, s + 2 * i, 2), dst[i] = lumi_f16_to_f32(h);
        break;
    case LUMI_Q8_0:
        for (size_t b = 0; b < n / 32; b++) {
            const unsigned char *blk = s + 34 * b;
            memcpy(&h, blk, 2);
            float d = lumi_f16_to_f32(h);
            for (int i = 0; i < 32; i++) dst[32 * b + i] = d * (float)(int8_t)blk[2 + i];
        }
        break;
    }
}

void lumi_narrow(LumiDType type, const float *src, size_t n, void *dst) {
    unsigned char *d = dst;
    uint16_t h;
    switch (type) {
    case LUMI_F32: memcpy(dst, src, n * 4); break;
    case LUMI_BF16:
        for (size_t i = 0; i < n; i++) h = lumi_f32_to_bf16(src[i]), memcpy(d + 2 * i, &h, 2);
        break;
    case LUMI_F16:
        for (size_t i = 0; i < n; i++) h = lumi_f32_to_f16(src[i]), memcpy(d + 2 * i, &h, 2);
        break;
    case LUMI_Q8_0:
        for (size_t b = 0; b < n / LUMI_Q8_BLOCK; b++)
            quantize_q8_0(src + LUMI_Q8_BLOCK * b, d + LUMI_Q8_BLOCK_BYTES * b);
        break;
    }
}

void lumi_quantize_q8_act(const float *x, int cols, int8_t *q, float *dx) {
    for (int b = 0; b < cols / LUMI_Q8_BLOCK; b++) {
        const float *xb = x + LUMI_Q8_BLOCK * b;
        float amax = 0;
        for (int i = 0; i < LUMI_Q8_BLOCK; i++) amax = fmaxf(amax, fabsf(xb[i]));
        float d = amax / 127.0f, id = d != 0.0f ? 1.0f / d : 0.0f;
        dx[b] = d;
        for (int i = 0; i < LUMI_Q8_BLOCK; i++) q[LUMI_Q8_BLOCK * b + i] = (int8_t)nearbyintf(xb[i] * id);
    }
}

size_t lumi_row_bytes(LumiDType t, int cols) {
    size_t c = (size_t)cols;
    switch (t) {
    case LUMI_F32: return c * 4;
    case LUMI_BF16:
    case LUMI_F16: return c * 2;
    case LUMI_Q8_0: return c / LUMI_Q8_BLOCK * LUMI_Q8_BLOCK_BYTES;
    }
    return c * 4;
}

int lumi_dtype_parse(const char *s) {
    for (int t = LUMI_F32; t <= LUMI_Q8_0; t++)
        if (!strcmp(s, lumi_dtype_name((LumiDType)t))) return t;
    return -1;
}
