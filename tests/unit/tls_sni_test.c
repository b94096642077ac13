/*
 * tls_sni_test.c: SNI routing's server names (worker/tls.c): the broker
 * pattern's node id, any case, no leading zero, within max_node_id;
 * everything else refused.
 */
#include <criterion/criterion.h>

#include "worker/tls.c"

Test(tls_sni, broker_names)
{
	cr_assert_eq(tls_sni_id("broker-0.k.example", "broker-",
	    ".k.example", 5), 0);
	cr_assert_eq(tls_sni_id("BROKER-3.K.Example", "broker-",
	    ".k.example", 5), 3);
	cr_assert_eq(tls_sni_id("broker-1023.k", "broker-", ".k", 1023),
	    1023);
	cr_assert_eq(tls_sni_id("broker-6.k.example", "broker-",
	    ".k.example", 5), -1);			/* over max */
	cr_assert_eq(tls_sni_id("broker-01.k.example", "broker-",
	    ".k.example", 5), -1);			/* leading zero */
	cr_assert_eq(tls_sni_id("broker-.k.example", "broker-",
	    ".k.example", 5), -1);			/* no id */
	cr_assert_eq(tls_sni_id("broker-1x.k.example", "broker-",
	    ".k.example", 5), -1);
	cr_assert_eq(tls_sni_id("broker-12345.k.example", "broker-",
	    ".k.example", 99999), -1);			/* 5 digits */
	cr_assert_eq(tls_sni_id("broker-1.k.example.evil", "broker-",
	    ".k.example", 5), -1);
	cr_assert_eq(tls_sni_id("xbroker-1.k.example", "broker-",
	    ".k.example", 5), -1);
	cr_assert_eq(tls_sni_id("7", "", "", 9), 7);	/* bare id */
}
