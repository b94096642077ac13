/*
 * cmd_scan_out.c: krx-ctl scan's report, read (the lines of
 * worker/scan_report.c) and printed: a table per partition, its
 * undecryptable ranges, then the commands of the guide's §5.1.3 for the
 * partitions whose first_good is past their earliest offset: the
 * offset JSON file for kafka-delete-records.sh and one
 * kafka-consumer-groups.sh --reset-offsets per partition. With -j, one
 * JSON document holding all of it. Partitions with an error get no
 * command: a KMS that could not be asked is no reason to delete.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/xmalloc.h"
#include "ctl/ctl.h"
#include "ctl/scan.h"

/* The rest of the line after n space-separated fields. */
static const char *
out_rest(const char *line, int n)
{
	while (n-- > 0) {
		if ((line = strchr(line, ' ')) == NULL)
			return "";
		line++;
	}
	return line;
}

static int
out_line(char *line, struct ctl_scan *sc)
{
	struct ctl_scan_part	*p;
	struct ctl_scan_range	*r;

	if (strncmp(line, "topic ", 6) == 0)
		snprintf(sc->topic, sizeof(sc->topic), "%s", line + 6);
	else if (strncmp(line, "vcluster ", 9) == 0)
		snprintf(sc->vcluster, sizeof(sc->vcluster), "%s", line + 9);
	else if (strncmp(line, "bootstrap ", 10) == 0)
		snprintf(sc->bootstrap, sizeof(sc->bootstrap), "%s", line + 10);
	else if (strncmp(line, "error ", 6) == 0)
		snprintf(sc->error, sizeof(sc->error), "%s", line + 6);
	else if (strncmp(line, "part ", 5) == 0) {
		sc->parts = xreallocarray(sc->parts, sc->nparts + 1,
		    sizeof(*sc->parts));
		p = &sc->parts[sc->nparts++];
		memset(p, 0, sizeof(*p));
		if (sscanf(line, "part %d %lld %lld %lld %llu %llu %llu %d %15s",
		    &p->index, &p->earliest, &p->latest, &p->first_good,
		    &p->records, &p->encrypted, &p->bad, &p->truncated,
		    p->state) != 9)
			return -1;
	} else if (strncmp(line, "perror ", 7) == 0) {
		if (sc->nparts == 0)
			return -1;
		snprintf(sc->parts[sc->nparts - 1].error,
		    sizeof(sc->parts[0].error), "%s", out_rest(line, 2));
	} else if (strncmp(line, "range ", 6) == 0) {
		sc->ranges = xreallocarray(sc->ranges, sc->nranges + 1,
		    sizeof(*sc->ranges));
		r = &sc->ranges[sc->nranges++];
		memset(r, 0, sizeof(*r));
		if (sscanf(line, "range %d %lld %lld %15s", &r->part, &r->from,
		    &r->to, r->reason) != 4)
			return -1;
		snprintf(r->kek, sizeof(r->kek), "%s", out_rest(line, 5));
	}
	return 0;
}

int
ctl_scan_parse(char *text, struct ctl_scan *sc)
{
	char	*line, *nl;
	int	 ended = 0;

	if (strncmp(text, "krx-scan 1\n", 11) != 0)
		return -1;
	for (line = text; *line != '\0'; line = nl + 1) {
		if ((nl = strchr(line, '\n')) == NULL)
			return -1;
		*nl = '\0';
		if (strcmp(line, "end") == 0)
			ended = 1;
		else if (out_line(line, sc) != 0)
			return -1;
	}
	return ended ? 0 : -1;
}

void
ctl_scan_free(struct ctl_scan *sc)
{
	free(sc->parts);
	free(sc->ranges);
	sc->parts = NULL;
	sc->ranges = NULL;
}

static int
out_deletes(const struct ctl_scan_part *p)
{
	return strcmp(p->state, "ok") == 0 && p->first_good > p->earliest;
}

/* The offset JSON file of kafka-delete-records.sh (topic names need no
 * escaping: Kafka allows [A-Za-z0-9._-] only). */
static void
out_delete_json(FILE *f, const struct ctl_scan *sc)
{
	size_t	 i, n = 0;

	fprintf(f, "{\"partitions\":[");
	for (i = 0; i < sc->nparts; i++) {
		if (!out_deletes(&sc->parts[i]))
			continue;
		fprintf(f, "%s{\"topic\":\"%s\",\"partition\":%d,\"offset\":"
		    "%lld}", n++ ? "," : "", sc->topic, sc->parts[i].index,
		    sc->parts[i].first_good);
	}
	fprintf(f, "],\"version\":1}");
}

static size_t
out_ndeletes(const struct ctl_scan *sc)
{
	size_t	 i, n = 0;

	for (i = 0; i < sc->nparts; i++)
		n += (size_t)out_deletes(&sc->parts[i]);
	return n;
}

/* DIR/delete-records-TOPIC.json, written; its path or NULL (printed). */
static char *
out_write_file(const struct ctl_scan *sc)
{
	char	*path;
	FILE	*f;

	if (asprintf(&path, "%s/delete-records-%s.json", sc->out_dir,
	    sc->topic) == -1)
		return NULL;
	if ((f = fopen(path, "w")) == NULL) {
		fprintf(stderr, "krx-ctl: %s: %s\n", path, strerror(errno));
		free(path);
		return NULL;
	}
	out_delete_json(f, sc);
	fputc('\n', f);
	if (fclose(f) != 0) {
		fprintf(stderr, "krx-ctl: %s: %s\n", path, strerror(errno));
		free(path);
		return NULL;
	}
	return path;
}

/* The commands, one per line, into f (JSON strings when json). */
static void
out_commands(FILE *f, const struct ctl_scan *sc, const char *file, int json)
{
	const char	*group = sc->group != NULL ? sc->group : "GROUP";
	char		 cmd[1024];
	size_t		 i, n = 0;
	int		 len;

	len = snprintf(cmd, sizeof(cmd), "kafka-delete-records.sh "
	    "--bootstrap-server %s --offset-json-file %s", sc->bootstrap,
	    file);
	if (json)
		ctl_json_str(f, cmd, (size_t)len);
	else
		fprintf(f, "%s\n", cmd);
	for (i = 0; i < sc->nparts; i++) {
		if (!out_deletes(&sc->parts[i]))
			continue;
		len = snprintf(cmd, sizeof(cmd), "kafka-consumer-groups.sh "
		    "--bootstrap-server %s --group %s --reset-offsets "
		    "--topic %s:%d --to-offset %lld --execute", sc->bootstrap,
		    group, sc->topic, sc->parts[i].index,
		    sc->parts[i].first_good);
		if (json) {
			fputc(',', f);
			ctl_json_str(f, cmd, (size_t)len);
		} else
			fprintf(f, "%s\n", cmd);
		n++;
	}
}

static const char *
out_reason(const char *r)
{
	if (strcmp(r, "not_found") == 0)
		return "KEK not found";
	if (strcmp(r, "invalid") == 0)
		return "the KEK of that name does not open the EDEK (deleted "
		    "and made again?)";
	return "unreadable encryption wrapper";
}

static void
out_text_parts(const struct ctl_scan *sc)
{
	const struct ctl_scan_part	*p;
	char				 first[32];
	size_t				 i, j;

	printf("topic %s (virtual cluster %s), upstream %s\n", sc->topic,
	    sc->vcluster, sc->bootstrap);
	if (sc->error[0])
		printf("scan ended early: %s\n", sc->error);
	printf("%-9s %12s %12s %12s %12s %13s  %s\n", "PARTITION",
	    "EARLIEST", "LATEST", "FIRST_GOOD", "RECORDS", "UNDECRYPTABLE",
	    "STATUS");
	for (i = 0; i < sc->nparts; i++) {
		p = &sc->parts[i];
		if (strcmp(p->state, "ok") == 0)
			snprintf(first, sizeof(first), "%lld", p->first_good);
		else
			snprintf(first, sizeof(first), "-");
		printf("%-9d %12lld %12lld %12s %12llu %13llu  %s%s%s\n",
		    p->index, p->earliest, p->latest, first, p->records,
		    p->bad, p->state, p->error[0] ? ": " : "", p->error);
		for (j = 0; j < sc->nranges; j++)
			if (sc->ranges[j].part == p->index)
				printf("  undecryptable [%lld, %lld]: KEK %s: "
				    "%s\n", sc->ranges[j].from,
				    sc->ranges[j].to, sc->ranges[j].kek,
				    out_reason(sc->ranges[j].reason));
		if (p->truncated)
			printf("  (more ranges than listed)\n");
	}
}

static void
out_text(const struct ctl_scan *sc, const char *file)
{
	char	 name[300];
	size_t	 i, bad = 0;

	snprintf(name, sizeof(name), "delete-records-%s.json", sc->topic);
	if (sc->error[0])
		fprintf(stderr, "krx-ctl: scan: %s\n", sc->error);
	if (sc->nparts == 0)
		return;
	out_text_parts(sc);
	for (i = 0; i < sc->nparts; i++)
		bad += strcmp(sc->parts[i].state, "ok") != 0;
	if (bad > 0)
		printf("\n%zu partition(s) not scanned to the end: no command "
		    "for them (scan them again).\n", bad);
	if (out_ndeletes(sc) == 0) {
		printf("\nNothing to delete%s.\n", bad > 0 ? " among the "
		    "partitions scanned" : ": every record decrypts");
		return;
	}
	printf("\nTo drop the undecryptable records (guide 5.1.3), stop the "
	    "consumers, then:\n");
	if (file == NULL) {
		printf("cat > %s <<'EOF'\n", name);
		out_delete_json(stdout, sc);
		printf("\nEOF\n");
	}
	out_commands(stdout, sc, file != NULL ? file : name, 0);
	printf("(reset a group only where its committed offset is below "
	    "first_good:\n kafka-consumer-groups.sh --describe shows it)\n");
}

static void
out_json(const struct ctl_scan *sc, const char *file)
{
	const struct ctl_scan_part	*p;
	size_t				 i, j, n;
	char				 name[300];

	snprintf(name, sizeof(name), "delete-records-%s.json", sc->topic);
	printf("{\"topic\":");
	ctl_json_str(stdout, sc->topic, strlen(sc->topic));
	printf(",\"vcluster\":");
	ctl_json_str(stdout, sc->vcluster, strlen(sc->vcluster));
	printf(",\"bootstrap\":");
	ctl_json_str(stdout, sc->bootstrap, strlen(sc->bootstrap));
	printf(",\"error\":");
	if (sc->error[0])
		ctl_json_str(stdout, sc->error, strlen(sc->error));
	else
		printf("null");
	printf(",\"partitions\":[");
	for (i = 0; i < sc->nparts; i++) {
		p = &sc->parts[i];
		printf("%s{\"partition\":%d,\"earliest\":%lld,\"latest\":%lld,"
		    "\"first_good\":", i ? "," : "", p->index, p->earliest,
		    p->latest);
		if (strcmp(p->state, "ok") == 0)
			printf("%lld", p->first_good);
		else
			printf("null");
		printf(",\"records\":%llu,\"encrypted\":%llu,"
		    "\"undecryptable\":%llu,\"status\":\"%s\",\"error\":",
		    p->records, p->encrypted, p->bad, p->state);
		if (p->error[0])
			ctl_json_str(stdout, p->error, strlen(p->error));
		else
			printf("null");
		printf(",\"ranges_truncated\":%s,\"ranges\":[",
		    p->truncated ? "true" : "false");
		for (j = 0, n = 0; j < sc->nranges; j++) {
			if (sc->ranges[j].part != p->index)
				continue;
			printf("%s{\"from\":%lld,\"to\":%lld,\"reason\":\"%s\","
			    "\"kek\":", n++ ? "," : "", sc->ranges[j].from,
			    sc->ranges[j].to, sc->ranges[j].reason);
			ctl_json_str(stdout, sc->ranges[j].kek,
			    strlen(sc->ranges[j].kek));
			printf("}");
		}
		printf("]}");
	}
	printf("],\"delete_records\":");
	out_delete_json(stdout, sc);
	printf(",\"delete_records_file\":");
	if (file != NULL)
		ctl_json_str(stdout, file, strlen(file));
	else
		printf("null");
	printf(",\"commands\":[");
	if (out_ndeletes(sc) > 0)
		out_commands(stdout, sc, file != NULL ? file : name, 1);
	printf("]}\n");
}

int
ctl_scan_print(struct ctl_scan *sc)
{
	char	*file = NULL;
	size_t	 i;
	int	 r = sc->error[0] ? 1 : 0;

	for (i = 0; i < sc->nparts; i++)
		if (strcmp(sc->parts[i].state, "ok") != 0)
			r = 1;
	if (sc->out_dir != NULL && out_ndeletes(sc) > 0 &&
	    (file = out_write_file(sc)) == NULL)
		r = 1;
	if (ctl_json)
		out_json(sc, file);
	else
		out_text(sc, file);
	free(file);
	return r;
}
