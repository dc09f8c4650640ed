/* dtype.h: element conversions for stored weights. Every f16 and bf16
 * value is exactly representable in f32, so widening loses nothing;
 * Q8_0 (blocks of 32 int8 with one f16 scale d) widens to d * q, which is
 * also exact in f32 (11 + 7 significant bits). Narrowing rounds to nearest
 * even (bf16, f16); Q8_0 quantizes as GGUF's reference quantizer does:
 * d = amax / 127, q = round-half-away(x / d)... computed as x * (1/d), and
 * the scale stored is f16(d). */
#ifndef LUMI_DTYPE_H
#define LUMI_DTYPE_H
#include <stddef.h>
#include <stdint.h>
#include "model.h"

#define LUMI_Q8_BLOCK 32       /* elements per Q8_0 block */
#define LUMI_Q8_BLOCK_BYTES 34 /* f16 scale + 32 int8 */

float lumi_f16_to_f32(uint16_t h);
float lumi_bf16_to_f32(uint16_t h);
uint16_t lumi_f32_to_bf16(float f); /* round to nearest even; NaN stays NaN */
uint16_t lumi_f32_to_f16(float f);  /* round to nearest even; overflow -> inf */
/* dst[0..n) = src widened from `type` (n a multiple of 32 for Q8_0). */
void lumi_widen(LumiDType type, const void *src, size_t n, float *dst);
/* dst = src[0..n) in `type` (n a multiple of 32 for Q8_0). */
void lumi_narrow(LumiDType type, const float *src, size_t n, void *dst);

/* Activations of a q8_0 matmul, quantized per block of 32 (the q8_0 x
 * q8_0 dot, as llama.cpp computes it): dx = amax / 127 (kept in f32),
 * q = round-to-nearest-even(x * (1 / dx)), 0 for an all-zero block. Every
 * backend quantizes with exactly these f32 operations, so all agree on q
 * and dx. x has cols elements, cols % 32 == 0; q [cols], dx [cols / 32]. */
void lumi_quantize_q8_act(const float *x, int cols, int8_t *q, float *dx);

/* Bytes of one row of `cols` elements (cols % 32 == 0 for Q8_0). */
size_t lumi_row_bytes(LumiDType t, int cols);
/* Parses "f32", "bf16", "f16", "q8_0"; -1 if unknown. */
int lumi_dtype_parse(const char *s);

#endif
