/* synth_gguf.h: `lumi synth --dtype DT -o OUT.gguf`: the random model of
 * engine/synth.h written straight to GGUF with its matrices in DT, so a
 * 7B-shape q8_0 or bf16 test model never needs its 27 GB f32 form. The
 * values are those lumi_synth_write() draws (same seed, same order): its
 * tensors equal those of `lumi convert SYNTH.bin OUT.gguf --dtype DT`
 * bitwise (only general.name differs). */
#ifndef LUMI_SYNTH_GGUF_H
#define LUMI_SYNTH_GGUF_H
#include "synth.h"

int lumi_synth_write_gguf(const LumiSynthSpec *s, LumiDType t, const char *path, LumiErr *e);

#endif
