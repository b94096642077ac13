/*
 * edek_name.h: the KEK an EDEK names, as text for log lines, for every
 * EDEK form krx reads: LocalKms (crypto/localkms.h) and the remote
 * providers' (crypto/edek_kms.h). Names and versions only, never key
 * material: the wrapped DEK and Vault's ciphertext are left out.
 * Library grade: no logging, no globals, no allocation; trusts nothing
 * in the EDEK (it comes from a record on a broker).
 */
#ifndef KRX_CRYPTO_EDEK_NAME_H
#define KRX_CRYPTO_EDEK_NAME_H

#include <stddef.h>
#include <stdint.h>

/* The kms an EDEK was written by (its form). */
enum krx_edek_form {
	KRX_EDEK_FORM_LOCAL = 0,	/* LocalKms */
	KRX_EDEK_FORM_VAULT,		/* VaultKmsService */
	KRX_EDEK_FORM_AWS,		/* AwsKmsService */
	KRX_EDEK_FORM_AZURE		/* AzureKeyVaultKmsService */
};

/*
 * Name the KEK of the len-byte EDEK of form into out (outsz > 0, NUL
 * terminated, cut to fit; bytes other than printable ASCII as '?'):
 *   LocalKms  "KEK-a version 2"
 *   Vault     "KEK-a version 3"
 *   AWS       "1234abcd-12ab-34cd-56ef-1234567890ab" (the KeyId or ARN)
 *   Azure     "KEK-a version 78de... in vault myvault"
 * Returns 0, or KRX_E_MALFORMED with out "?" when the EDEK does not
 * parse as that form (or form is unknown).
 */
int	krx_edek_kek_name(int form, const uint8_t *edek, size_t len,
	    char *out, size_t outsz);

#endif
