/*
 * maps_test.c: the master's checks on what workers report for the
 * shared maps (master/maps.c with common/shm/nodemap.c, topicmap.c and
 * region.c built in): issue 9, finding 12. A report a worker could not
 * have sent (node out of range, bad address, a host outside upstream
 * allowed_hosts, a bad topic name, a cut message) is refused, so the
 * caller kills that worker; good ones are written.
 */
#include <string.h>

#include <criterion/criterion.h>

#include "master/maps.c"
#include "common/shm/nodemap.c"
#include "common/shm/region.c"
#include "common/shm/topicmap.c"

static const char CONF[] =
    "virtual_clusters = (\n"
    "  { name = \"a\"; bootstrap = \"127.0.0.1:9192\"; max_node_id = 2;\n"
    "    upstream = { bootstrap = \"localhost:9092\";\n"
    "      allowed_hosts = ( \"kafka-*.internal\" ); }; },\n"
    "  { name = \"b\"; bootstrap = \"127.0.0.1:9292\";\n"
    "    upstream = { bootstrap = \"localhost:9093\"; }; } );\n";

static const uint8_t	 ID[16] = { 9, 8, 7, 6, 5, 4, 3, 2, 1, 1, 2, 3, 4,
	5, 6, 7 };

static struct krx_master	 m;
static struct krx_cycle		 cy;
static struct krx_slot		 slot;

static void
setup(void)
{
	struct krx_conf_errors	 errs;

	memset(&errs, 0, sizeof(errs));
	memset(&m, 0, sizeof(m));
	memset(&cy, 0, sizeof(cy));
	m.cy = &cy;
	cr_assert_eq(krx_conf_load_string(CONF, "t.conf", &cy.conf, &errs),
	    KRX_OK);
	krx_conf_errors_free(&errs);
	cy.nodemap = krx_nodemap_create(cy.conf);
	cy.topicmap = krx_topicmap_create(cy.conf->n_vclusters);
	slot.master = &m;
	slot.kind = KRX_KIND_WORKER;
}

static void
teardown(void)
{
	krx_nodemap_free(cy.nodemap);
	krx_topicmap_free(cy.topicmap);
	krx_conf_free(cy.conf);
}

static int
node(size_t vc, int32_t id, const char *host, int32_t port)
{
	struct krx_ipc_hdr	 h = { .type = KRX_IPC_NODE_LEARNED };
	uint8_t			 msg[KRX_NODEMAP_MSG_MAX];
	size_t			 n;

	n = krx_nodemap_msg_encode(msg, vc, id, host, strlen(host), port);
	return krx_maps_message(&m, &slot, &h, msg, n);
}

static int
topic(size_t vc, const char *name)
{
	struct krx_ipc_hdr	 h = { .type = KRX_IPC_TOPIC_LEARNED };
	uint8_t			 msg[KRX_TOPICMAP_MSG_MAX];
	size_t			 n;

	n = krx_topicmap_msg_encode(msg, vc, ID, name, strlen(name));
	return krx_maps_message(&m, &slot, &h, msg, n);
}

TestSuite(maps, .init = setup, .fini = teardown);

Test(maps, node_reports)
{
	char	 host[KRX_NODEMAP_HOST_MAX + 1];
	int32_t	 port;

	cr_assert_eq(node(0, 1, "kafka-1.internal", 9092), 0);
	cr_assert_eq(krx_nodemap_get(cy.nodemap, 0, 1, host, &port), KRX_OK);
	cr_assert_str_eq(host, "kafka-1.internal");
	cr_assert_eq(node(1, 0, "anything.example", 9092), 0);

	cr_assert_eq(node(0, 2, "metadata.internal", 80), -1);
	cr_assert_eq(node(0, 3, "kafka-3.internal", 9092), -1);
	cr_assert_eq(node(0, -1, "kafka-3.internal", 9092), -1);
	cr_assert_eq(node(2, 0, "kafka-0.internal", 9092), -1);
	cr_assert_eq(node(0, 0, "kafka-0.internal", 0), -1);
	cr_assert_eq(node(0, 0, "kafka-0.internal", 70000), -1);
	cr_assert_eq(node(1, 0, "bad host", 9092), -1);
	cr_assert_eq(krx_nodemap_get(cy.nodemap, 0, 2, host, &port),
	    KRX_E_NOTFOUND);
	cr_assert_eq(krx_nodemap_get(cy.nodemap, 0, 0, host, &port),
	    KRX_E_NOTFOUND);
}

Test(maps, topic_reports)
{
	char	 name[KRX_TOPIC_NAME_MAX + 1];
	size_t	 len;

	cr_assert_eq(topic(1, "orders"), 0);
	cr_assert_eq(krx_topicmap_get(cy.topicmap, 1, ID, name, &len), KRX_OK);
	cr_assert_str_eq(name, "orders");
	cr_assert_eq(krx_topicmap_get(cy.topicmap, 0, ID, name, &len),
	    KRX_E_NOTFOUND);
	cr_assert_eq(topic(2, "orders"), -1);
	cr_assert_eq(topic(0, "a b"), -1);
	cr_assert_eq(topic(0, ""), -1);
}

Test(maps, malformed_and_other_types)
{
	struct krx_ipc_hdr	 h = { .type = KRX_IPC_NODE_LEARNED };
	uint8_t			 msg[KRX_NODEMAP_MSG_MAX];
	size_t			 n;

	n = krx_nodemap_msg_encode(msg, 0, 1, "kafka-1.internal", 16, 9092);
	cr_assert_eq(krx_maps_message(&m, &slot, &h, msg, n - 1), -1);
	cr_assert_eq(krx_maps_message(&m, &slot, &h, msg, 3), -1);
	h.type = KRX_IPC_TOPIC_LEARNED;
	cr_assert_eq(krx_maps_message(&m, &slot, &h, msg, n), -1);
	h.type = KRX_IPC_READY;
	cr_assert_eq(krx_maps_message(&m, &slot, &h, NULL, 0), -1);
}
