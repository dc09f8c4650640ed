/* dtype.c: see dtype.h. */
#include "dtype.h"

#include <math.h>
#include <string.h>

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
