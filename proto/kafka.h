/*
 * kafka.h: the Kafka wire protocol as krx sees it. Library grade: no
 * logging, no globals besides constant tables; every function works on
 * bytes it is given and trusts none of them.
 *
 * Conventions: "body" means the bytes after the request or response
 * header; frames are given without their 4-byte size prefix. Functions
 * return KRX_OK (0), a positive value where documented, or a negative
 * enum krx_err.
 */
#ifndef KRX_PROTO_KAFKA_H
#define KRX_PROTO_KAFKA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

/* API keys krx decodes or treats specially. */
enum krx_kafka_api {
	KRX_API_PRODUCE = 0,
	KRX_API_FETCH = 1,
	KRX_API_METADATA = 3,
	KRX_API_FIND_COORDINATOR = 10,
	KRX_API_SASL_HANDSHAKE = 17,
	KRX_API_API_VERSIONS = 18,
	KRX_API_DESCRIBE_CONFIGS = 32,
	KRX_API_SASL_AUTHENTICATE = 36,
	KRX_API_DESCRIBE_CLUSTER = 60,
	KRX_API_SHARE_FETCH = 78,
	KRX_API_SHARE_ACKNOWLEDGE = 79
};

/* Kafka error codes krx produces. */
enum krx_kafka_error {
	KRX_KERR_NONE = 0,
	KRX_KERR_UNKNOWN_SERVER_ERROR = -1,
	KRX_KERR_REQUEST_TIMED_OUT = 7,
	KRX_KERR_NETWORK_EXCEPTION = 13,
	KRX_KERR_UNSUPPORTED_VERSION = 35,
	KRX_KERR_INVALID_RECORD = 87,
	KRX_KERR_RESOURCE_NOT_FOUND = 91,
	KRX_KERR_UNKNOWN_TOPIC_ID = 100
};

#define KRX_KAFKA_FRAME_MIN	8	/* api key, version, correlation id */

/*
 * The API table. krx_kafka_api_known: whether the key is a Kafka 4.x
 * client API krx may forward (unknown keys are refused).
 * krx_kafka_api_range: the versions krx accepts for the key (for APIs it
 * only forwards, 0..INT16_MAX: the broker's range stands).
 * krx_kafka_api_first_flexible: first flexible version, or INT16_MAX when
 * the API never became flexible.
 */
bool	krx_kafka_api_known(int16_t api_key);
int	krx_kafka_api_range(int16_t api_key, int16_t *min, int16_t *max);
int16_t	krx_kafka_api_first_flexible(int16_t api_key);
/*
 * Close a request frame begun at start with a zero size: its size set,
 * or on a buffer error the frame removed and the error returned.
 */
struct krx_buf;
int	krx_kafka_frame_finish(struct krx_buf *out, size_t start);
/* Request header v2 (else v1). */
bool	krx_kafka_req_hdr_flexible(int16_t api_key, int16_t version);
/* Response header v1 (else v0); ApiVersions always answers with v0. */
bool	krx_kafka_resp_hdr_flexible(int16_t api_key, int16_t version);
/*
 * Short name of an API for log lines ("Produce"; "unknown" for a key
 * outside the Kafka 4.x table). Static storage.
 */
const char *krx_kafka_api_name(int16_t api_key);

struct krx_kafka_req_hdr {
	int16_t		 api_key;
	int16_t		 api_version;
	int32_t		 correlation_id;
	const uint8_t	*client_id;	/* points into the frame; NULL if null */
	int16_t		 client_id_len;
	size_t		 len;		/* header bytes, tags included */
};

/*
 * Parse a request header from a frame (without size prefix). Needs the
 * API table to know whether a tag section follows; an unknown api key
 * gives KRX_E_UNSUPPORTED with api_key, api_version and correlation_id
 * still filled in.
 */
int	krx_kafka_req_hdr_parse(const uint8_t *p, size_t len,
	    struct krx_kafka_req_hdr *h);

/* Length of a response header (correlation id and, if flexible, tags). */
int	krx_kafka_resp_hdr_len(const uint8_t *p, size_t len, int16_t api_key,
	    int16_t version, size_t *hdr_len);

/* Produce request body: read acks (0 means no response will come). */
int	krx_kafka_produce_acks(const uint8_t *body, size_t len,
	    int16_t version, int16_t *acks);

/* SaslHandshake request v0? krx refuses v0 (raw tokens follow it). */

/*
 * ApiVersions response body, clamped: each known API's range is
 * intersected with krx_kafka_api_range (Produce keeps min 0 when the
 * broker's min is <= 3, KAFKA-18659), unknown keys are removed, every
 * tagged field (SupportedFeatures, FinalizedFeatures...) kept as bytes.
 * Returns 1 with the new body appended to out, 0 when the response
 * carries a non-zero error code (forward it verbatim), or an error; on 0
 * or an error out is left as it was.
 */
int	krx_kafka_apiversions_clamp(const uint8_t *body, size_t len,
	    int16_t version, struct krx_buf *out);

/*
 * The range the broker's ApiVersions response body gives api_key:
 * KRX_OK with *min, *max; KRX_E_NOTFOUND when it is not listed or the
 * response carries an error; parse errors (only the entries up to it
 * are read).
 */
int	krx_kafka_apiversions_range(const uint8_t *body, size_t len,
	    int16_t version, int16_t api_key, int16_t *min, int16_t *max);

/*
 * The body krx answers a too-new ApiVersions request with (KIP-511): v0
 * encoding, UNSUPPORTED_VERSION, one entry: ApiVersions with krx's range.
 */
int	krx_kafka_apiversions_unsupported(struct krx_buf *out);

/*
 * A response body carrying an error for a request krx answers itself,
 * for APIs where that is defined; see kafka_error.c.
 */

struct krx_kafka_endpoint {
	int32_t		 node_id;
	const char	*host;		/* not NUL-terminated */
	size_t		 host_len;
	int32_t		 port;
};

/*
 * Called once per broker endpoint found in a response: learns the
 * upstream endpoint and fills *advertised with what the client must see
 * (host storage owned by the callee, valid until the rewrite returns).
 * Returns 0, or a negative enum krx_err to abort the rewrite.
 */
typedef int (*krx_kafka_endpoint_fn)(void *arg,
    const struct krx_kafka_endpoint *upstream,
    struct krx_kafka_endpoint *advertised);

/*
 * Does a response of this API and version carry broker endpoints?
 * (Metadata, FindCoordinator, DescribeCluster, Produce v10+, Fetch v16+,
 * ShareFetch, ShareAcknowledge.)
 */
bool	krx_kafka_has_endpoints(int16_t api_key, int16_t version);

/*
 * Rewrite every broker endpoint in a response body through fn. Returns 1
 * with the new body appended to out, 0 when the body holds no endpoint
 * (forward the original bytes; also for APIs without endpoints, whose
 * bodies are not read), or a negative error (malformed body, a version
 * krx cannot decode: KRX_E_UNSUPPORTED, or fn's error); on 0 or an error
 * out is left as it was. The body must decode exactly to its end.
 * FindCoordinator entries with a negative node id ("none") are not
 * passed to fn.
 */
/*
 * A Fetch response body (v4-18) whose first keep bytes have already gone
 * to the client: give it krx's endpoints in place, keeping its length.
 * fn is called as by krx_kafka_rewrite_endpoints. Rewritten NodeEndpoints
 * of the original length replace it; otherwise tag 0 is emptied and an
 * unknown tag pads the section to its old length (clients then find the
 * new leader through Metadata, as before KIP-951). KRX_OK (also when
 * there is nothing to rewrite), KRX_E_RANGE when the tag section starts
 * before keep or cannot be padded, or a parse error (body unchanged).
 */
int	krx_kafka_fetch_endpoints_inplace(uint8_t *body, size_t len,
	    int16_t version, size_t keep, krx_kafka_endpoint_fn fn,
	    void *arg);
int	krx_kafka_rewrite_endpoints(int16_t api_key, int16_t version,
	    const uint8_t *body, size_t len, krx_kafka_endpoint_fn fn,
	    void *arg, struct krx_buf *out);

#define KRX_KAFKA_HOST_MAX	255
/*
 * Whether a broker-sent endpoint is one krx may learn: port 1..65535,
 * host 1..KRX_KAFKA_HOST_MAX characters of [A-Za-z0-9.:_-], not starting
 * with '-' or '.'. Both rewrites refuse other endpoints of nodes >= 0
 * with KRX_E_MALFORMED (issue 9, finding 12).
 */
bool	krx_kafka_endpoint_valid(const char *host, size_t len, int32_t port);

/*
 * Encode a whole Metadata request frame (with size prefix) asking for
 * no topics' details but the brokers: used by krx to learn broker
 * addresses. version must be one the broker supports (4 is safe on 4.x).
 */
int	krx_kafka_metadata_request(struct krx_buf *out, int16_t version,
	    int32_t correlation_id, const char *client_id);

#endif
