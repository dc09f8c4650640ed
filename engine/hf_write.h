/* hf_write.h: write a loaded model as a Hugging Face folder (engine/hf_write.c). */
#ifndef LUMI_HF_WRITE_H
#define LUMI_HF_WRITE_H
#include "hf.h"

typedef struct {
    LumiHfLayout layout; /* LUMI_HF_LLAMA or LUMI_HF_QWEN1 */
    LumiDType dtype;     /* LUMI_F32 or LUMI_BF16 (round to nearest even) */
    int shards;          /* 1: model.safetensors; N > 1: N shards + model.safetensors.index.json */
} LumiHfWriteOpts;

/* Writes config.json and the tensors into dir (created if needed). */
int lumi_hf_write(const LumiModel *m, const char *dir, const LumiHfWriteOpts *o, LumiErr *e);

#endif
