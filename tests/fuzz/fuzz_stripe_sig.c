/* libFuzzer: what Stripe (or anyone) can send to POST /stripe/webhook. The input is
 * "<Stripe-Signature header>\n<body>":
 *   - the header parser and the whole signature check (pure; must never crash or read past the
 *     header), with a property: a header the parser accepts never verifies against a body it
 *     was not signed for, unless its v1 really is the HMAC;
 *   - the body as a (pretend-verified) event through cp_stripe_handle_event on a scratch
 *     database, and every 256 inputs the ledger invariants must still hold (abort otherwise):
 *     no JSON, however odd, may credit twice or unbalance a workspace. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cp_stripe.h"
#include "fuzz_store.h"

#define SECRET "whsec_fuzz"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cp_store_t *store = fuzz_store_get("fuzz_stripe");
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t blen = nl ? size - hlen - 1 : 0;

    /* exact-size copies: ASan catches any read past either */
    char *h = malloc(hlen ? hlen : 1);
    char *b = malloc(blen ? blen : 1);
    memcpy(h, data, hlen);
    memcpy(b, body, blen);

    cp_stripe_sig_t sig;
    if (cp_stripe_parse_sig(h, hlen, &sig) == 0) {
        if (sig.nv1 > CP_STRIPE_MAX_V1)
            abort();
        cp_stripe_sig_rc_t rc = cp_stripe_verify(h, hlen, b, blen, SECRET, sig.t, CP_STRIPE_TOLERANCE_S);
        if (rc == CP_STRIPE_SIG_OK) {
            char want[65];
            int found = 0;
            if (cp_stripe_sign(SECRET, sig.t, b, blen, want) != 0)
                abort();
            for (size_t i = 0; i < sig.nv1; i++) {
                char got[65];
                for (int j = 0; j < 32; j++)
                    snprintf(got + 2 * j, 3, "%02x", sig.v1[i][j]);
                found |= strcmp(got, want) == 0;
            }
            if (!found)
                abort(); /* verified without a matching signature */
        }
    } else if (cp_stripe_verify(h, hlen, b, blen, SECRET, 0, CP_STRIPE_TOLERANCE_S) !=
               CP_STRIPE_SIG_MALFORMED) {
        abort(); /* the verifier must refuse what the parser refuses */
    }

    char err[256];
    cp_stripe_ev_result_t res;
    cp_stripe_handle_event(store, b, blen, 1, &res, err, sizeof(err));
    fuzz_store_check_every_256();
    free(h);
    free(b);
    return 0;
}
