/* libFuzzer: the Anthropic upstream dialect's readers and request translation (fuzz_dialect.h). */
#define FUZZ_KIND "anthropic"
#include "fuzz_dialect.h"
