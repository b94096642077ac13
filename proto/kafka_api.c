/*
 * kafka_api.c: the table of Kafka API keys krx knows, with the first
 * flexible version of each (from the Kafka 4.1 message schemas) and the
 * version ranges krx itself can decode. Library grade: constant data and
 * pure functions, callable from any process.
 *
 * "Known" means a key served on a Kafka 4.x broker listener; keys only a
 * controller serves (Vote, BrokerRegistration...) and keys retired in 4.0
 * (LeaderAndIsr...) are named for log lines but not known.
 */
#include <stddef.h>

#include "common/err.h"
#include "proto/kafka.h"

#define NEVER	INT16_MAX

struct api_row {
	const char	*name;
	int16_t		 first_flexible;
	bool		 client;
};

static const struct api_row api_rows[] = {
	[0] = { "Produce", 9, true },
	[1] = { "Fetch", 12, true },
	[2] = { "ListOffsets", 6, true },
	[3] = { "Metadata", 9, true },
	[4] = { "LeaderAndIsr", NEVER, false },
	[5] = { "StopReplica", NEVER, false },
	[6] = { "UpdateMetadata", NEVER, false },
	[7] = { "ControlledShutdown", NEVER, false },
	[8] = { "OffsetCommit", 8, true },
	[9] = { "OffsetFetch", 6, true },
	[10] = { "FindCoordinator", 3, true },
	[11] = { "JoinGroup", 6, true },
	[12] = { "Heartbeat", 4, true },
	[13] = { "LeaveGroup", 4, true },
	[14] = { "SyncGroup", 4, true },
	[15] = { "DescribeGroups", 5, true },
	[16] = { "ListGroups", 3, true },
	[17] = { "SaslHandshake", NEVER, true },
	[18] = { "ApiVersions", 3, true },
	[19] = { "CreateTopics", 5, true },
	[20] = { "DeleteTopics", 4, true },
	[21] = { "DeleteRecords", 2, true },
	[22] = { "InitProducerId", 2, true },
	[23] = { "OffsetForLeaderEpoch", 4, true },
	[24] = { "AddPartitionsToTxn", 3, true },
	[25] = { "AddOffsetsToTxn", 3, true },
	[26] = { "EndTxn", 3, true },
	[27] = { "WriteTxnMarkers", 1, true },
	[28] = { "TxnOffsetCommit", 3, true },
	[29] = { "DescribeAcls", 2, true },
	[30] = { "CreateAcls", 2, true },
	[31] = { "DeleteAcls", 2, true },
	[32] = { "DescribeConfigs", 4, true },
	[33] = { "AlterConfigs", 2, true },
	[34] = { "AlterReplicaLogDirs", 2, true },
	[35] = { "DescribeLogDirs", 2, true },
	[36] = { "SaslAuthenticate", 2, true },
	[37] = { "CreatePartitions", 2, true },
	[38] = { "CreateDelegationToken", 2, true },
	[39] = { "RenewDelegationToken", 2, true },
	[40] = { "ExpireDelegationToken", 2, true },
	[41] = { "DescribeDelegationToken", 2, true },
	[42] = { "DeleteGroups", 2, true },
	[43] = { "ElectLeaders", 2, true },
	[44] = { "IncrementalAlterConfigs", 1, true },
	[45] = { "AlterPartitionReassignments", 0, true },
	[46] = { "ListPartitionReassignments", 0, true },
	[47] = { "OffsetDelete", NEVER, true },
	[48] = { "DescribeClientQuotas", 1, true },
	[49] = { "AlterClientQuotas", 1, true },
	[50] = { "DescribeUserScramCredentials", 0, true },
	[51] = { "AlterUserScramCredentials", 0, true },
	[52] = { "Vote", 0, false },
	[53] = { "BeginQuorumEpoch", 1, false },
	[54] = { "EndQuorumEpoch", 1, false },
	[55] = { "DescribeQuorum", 0, true },
	[56] = { "AlterPartition", 2, false },
	[57] = { "UpdateFeatures", 0, true },
	[58] = { "Envelope", 0, false },
	[59] = { "FetchSnapshot", 0, false },
	[60] = { "DescribeCluster", 0, true },
	[61] = { "DescribeProducers", 0, true },
	[62] = { "BrokerRegistration", 0, false },
	[63] = { "BrokerHeartbeat", 0, false },
	[64] = { "UnregisterBroker", 0, true },
	[65] = { "DescribeTransactions", 0, true },
	[66] = { "ListTransactions", 0, true },
	[67] = { "AllocateProducerIds", 0, false },
	[68] = { "ConsumerGroupHeartbeat", 0, true },
	[69] = { "ConsumerGroupDescribe", 0, true },
	[70] = { "ControllerRegistration", 0, false },
	[71] = { "GetTelemetrySubscriptions", 0, true },
	[72] = { "PushTelemetry", 0, true },
	[73] = { "AssignReplicasToDirs", 0, false },
	[74] = { "ListConfigResources", 0, true },
	[75] = { "DescribeTopicPartitions", 0, true },
	[76] = { "ShareGroupHeartbeat", 0, true },
	[77] = { "ShareGroupDescribe", 0, true },
	[78] = { "ShareFetch", 0, true },
	[79] = { "ShareAcknowledge", 0, true },
	[80] = { "AddRaftVoter", 0, true },
	[81] = { "RemoveRaftVoter", 0, true },
	[82] = { "UpdateRaftVoter", 0, false },
	[83] = { "InitializeShareGroupState", 0, true },
	[84] = { "ReadShareGroupState", 0, true },
	[85] = { "WriteShareGroupState", 0, true },
	[86] = { "DeleteShareGroupState", 0, true },
	[87] = { "ReadShareGroupStateSummary", 0, true },
	[88] = { "StreamsGroupHeartbeat", 0, true },
	[89] = { "StreamsGroupDescribe", 0, true },
	[90] = { "DescribeShareGroupOffsets", 0, true },
	[91] = { "AlterShareGroupOffsets", 0, true },
	[92] = { "DeleteShareGroupOffsets", 0, true },
};

#define API_NROWS	((int16_t)(sizeof(api_rows) / sizeof(api_rows[0])))

/* The APIs whose bodies krx decodes, and the versions it decodes. */
static const struct {
	int16_t	 key;
	int16_t	 min;
	int16_t	 max;
} api_clamps[] = {
	{ KRX_API_PRODUCE, 3, 13 },
	{ KRX_API_FETCH, 4, 18 },
	{ KRX_API_METADATA, 0, 13 },
	{ KRX_API_FIND_COORDINATOR, 0, 6 },
	{ KRX_API_SASL_HANDSHAKE, 1, 1 },
	{ KRX_API_API_VERSIONS, 0, 4 },
	{ KRX_API_SASL_AUTHENTICATE, 0, 2 },
	{ KRX_API_DESCRIBE_CLUSTER, 0, 2 },
	{ KRX_API_SHARE_FETCH, 1, 2 },
	{ KRX_API_SHARE_ACKNOWLEDGE, 1, 2 },
};

static const struct api_row *
api_row(int16_t api_key)
{
	if (api_key < 0 || api_key >= API_NROWS ||
	    api_rows[api_key].name == NULL)
		return NULL;
	return &api_rows[api_key];
}

bool
krx_kafka_api_known(int16_t api_key)
{
	const struct api_row	*row = api_row(api_key);

	return row != NULL && row->client;
}

int
krx_kafka_api_range(int16_t api_key, int16_t *min, int16_t *max)
{
	size_t	 i;

	*min = *max = 0;
	if (!krx_kafka_api_known(api_key))
		return KRX_E_UNSUPPORTED;
	for (i = 0; i < sizeof(api_clamps) / sizeof(api_clamps[0]); i++) {
		if (api_clamps[i].key == api_key) {
			*min = api_clamps[i].min;
			*max = api_clamps[i].max;
			return KRX_OK;
		}
	}
	*max = INT16_MAX;
	return KRX_OK;
}

int16_t
krx_kafka_api_first_flexible(int16_t api_key)
{
	const struct api_row	*row = api_row(api_key);

	if (row == NULL || !row->client)
		return NEVER;
	return row->first_flexible;
}

bool
krx_kafka_req_hdr_flexible(int16_t api_key, int16_t version)
{
	return version >= krx_kafka_api_first_flexible(api_key) &&
	    krx_kafka_api_first_flexible(api_key) != NEVER;
}

bool
krx_kafka_resp_hdr_flexible(int16_t api_key, int16_t version)
{
	if (api_key == KRX_API_API_VERSIONS)
		return false;
	return krx_kafka_req_hdr_flexible(api_key, version);
}

const char *
krx_kafka_api_name(int16_t api_key)
{
	const struct api_row	*row = api_row(api_key);

	return row != NULL ? row->name : "unknown";
}
