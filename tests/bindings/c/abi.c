#include <stdio.h>
#include <string.h>
/* The header uses clang nullability qualifiers; gcc does not know them. */
#ifndef __clang__
#define _Nullable
#define _Nonnull
#endif
#include "casebook_mobileFFI.h"
int main(void) {
    RustCallStatus status = {0};
    uint32_t contract = ffi_casebook_mobile_uniffi_contract_version();
    RustBuffer version = uniffi_casebook_mobile_fn_func_library_version(&status);
    if (status.code != 0) { fprintf(stderr, "call failed: %d\n", status.code); return 1; }
    printf("contract=%u version=%.*s\n", contract, (int)version.len, (const char *)version.data);
    ffi_casebook_mobile_rustbuffer_free(version, &status);
    return status.code;
}
