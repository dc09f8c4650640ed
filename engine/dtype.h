/* dtype.h: element conversions for stored weights. Every f16 and bf16
 * value is exactly representable in f32, so widening loses nothing;
 * Q8_0 (blocks of 32 int8 with one f16 scale) widens to scale * q. */
#ifndef LUMI_DTYPE_H
#define LUMI_DTYPE_H
#include <stddef.h>
#include <stdint.h>
#include "model.h"

float lumi_f16_to_f32(uint16_t h);
float lumi_bf16_to_f32(uint16_t h);
/* dst[0..n) = src widened from `type` (n a multiple of 32 for Q8_0). */
void lumi_widen(LumiDType type, const void *src, size_t n, float *dst);

#endif
