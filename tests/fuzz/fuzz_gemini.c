/* libFuzzer: the Gemini upstream dialect's readers and request translation (fuzz_dialect.h). */
#define FUZZ_KIND "gemini"
#include "fuzz_dialect.h"
