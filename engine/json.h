/* json.h: writing JSON values to a FILE. Strings are escaped and any invalid
 * UTF-8 (a byte token cut mid-character) becomes U+FFFD, so output always
 * parses. */
#ifndef LUMI_JSON_H
#define LUMI_JSON_H
#include <stddef.h>
#include <stdio.h>

void lumi_json_str(FILE *f, const char *s, size_t len);
void lumi_json_cstr(FILE *f, const char *s);
void lumi_json_ints(FILE *f, const int *v, int n);
void lumi_json_num(FILE *f, double v); /* non-finite -> null */

#endif
