/*
 * status_page.c: STUB of the status page (see status_page.h).
 */
#include "worker/status_page.h"

static const char status_page_html[] =
    "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
    "<title>krx status</title></head>\n"
    "<body><h1>krx</h1><p>Metrics: <a href=\"/metrics\">/metrics</a></p>"
    "</body></html>\n";

const char *
krx_status_page(size_t *len)
{
	*len = sizeof(status_page_html) - 1;
	return status_page_html;
}
