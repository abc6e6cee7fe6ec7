/* permessage-deflate negotiation (RFC 7692 §5, §7.1): the server reads the
 * client's offers in order and accepts the first it can honour.  An offer
 * with an unknown, repeated or malformed parameter is declined on its own
 * (§5.1); a later valid offer in the same header is still accepted. */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "websocket/ws.h"

#define ABSENT (-1)
#define NO_VALUE 0

/* One offer's parameters as sent. */
typedef struct offer {
    bool is_pmd; /* the extension is permessage-deflate */
    bool bad;
    int snct, cnct; /* ABSENT or NO_VALUE */
    int smwb, cmwb; /* ABSENT, NO_VALUE or 8..15 */
} offer_t;

typedef struct scan {
    const char *v;
    size_t n, i;
} scan_t;

static bool is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static void skip_ows(scan_t *s)
{
    while (s->i < s->n && is_ows(s->v[s->i]))
        s->i++;
}

/* A token or a quoted-string (its quotes dropped; escapes are never part
 * of a valid value here, so a backslash just makes the value invalid). */
static void word(scan_t *s, const char **w, size_t *len)
{
    skip_ows(s);
    size_t a = s->i;
    if (s->i < s->n && s->v[s->i] == '"') {
        a = ++s->i;
        while (s->i < s->n && s->v[s->i] != '"')
            s->i++;
        *w = s->v + a;
        *len = s->i - a;
        if (s->i < s->n)
            s->i++;
    } else {
        while (s->i < s->n && !strchr(",;= \t\"", s->v[s->i]))
            s->i++;
        *w = s->v + a;
        *len = s->i - a;
    }
    skip_ows(s);
}

static bool is(const char *w, size_t len, const char *name)
{
    return len == strlen(name) && strncasecmp(w, name, len) == 0;
}

/* "8".."15" without leading zeros, else ABSENT. */
static int window_bits(const char *w, size_t len)
{
    if (len == 1 && w[0] >= '8' && w[0] <= '9')
        return w[0] - '0';
    if (len == 2 && w[0] == '1' && w[1] >= '0' && w[1] <= '5')
        return 10 + (w[1] - '0');
    return ABSENT;
}

static void param(offer_t *o, const char *k, size_t klen, const char *val, size_t vlen, bool has)
{
    int *slot, bits = NO_VALUE;
    bool value_needed = false, value_allowed = false;
    if (is(k, klen, "server_no_context_takeover"))
        slot = &o->snct;
    else if (is(k, klen, "client_no_context_takeover"))
        slot = &o->cnct;
    else if (is(k, klen, "server_max_window_bits"))
        slot = &o->smwb, value_needed = value_allowed = true;
    else if (is(k, klen, "client_max_window_bits"))
        slot = &o->cmwb, value_allowed = true;
    else {
        o->bad = true;
        return;
    }
    if (has)
        bits = value_allowed ? window_bits(val, vlen) : ABSENT;
    if (*slot != ABSENT || (!has && value_needed) || bits == ABSENT)
        o->bad = true;
    else
        *slot = bits;
}

/* Reads one offer up to its comma; false at the end of the value. */
static bool next_offer(scan_t *s, offer_t *o)
{
    const char *w, *val = NULL;
    size_t len, vlen = 0;

    skip_ows(s);
    if (s->i >= s->n)
        return false;
    *o = (offer_t){.snct = ABSENT, .cnct = ABSENT, .smwb = ABSENT, .cmwb = ABSENT};
    word(s, &w, &len);
    o->is_pmd = is(w, len, "permessage-deflate");
    while (s->i < s->n && s->v[s->i] == ';') {
        s->i++;
        word(s, &w, &len);
        bool has = s->i < s->n && s->v[s->i] == '=';
        if (has) {
            s->i++;
            word(s, &val, &vlen);
        }
        param(o, w, len, val, vlen, has);
    }
    /* Anything but a comma here is junk inside this offer. */
    while (s->i < s->n && s->v[s->i] != ',') {
        o->bad = true;
        s->i++;
    }
    if (s->i < s->n)
        s->i++;
    return true;
}

static int min_bits(int a, int b)
{
    return a < b ? a : b;
}

/* Turns an acceptable offer into the parameters both sides will use. */
static void settle(const offer_t *o, const ws_deflate_params_t *pref, ws_deflate_params_t *out)
{
    out->server_no_context_takeover = o->snct != ABSENT || pref->server_no_context_takeover;
    out->client_no_context_takeover = o->cnct != ABSENT || pref->client_no_context_takeover;
    /* Never answer a larger server window than the client asked for
     * (§7.1.2.1); 8 is honoured by deflating with zlib's 9 (see deflate.c). */
    out->server_max_window_bits = (uint8_t)pref->server_max_window_bits;
    if (o->smwb > 0)
        out->server_max_window_bits = (uint8_t)min_bits(o->smwb, pref->server_max_window_bits);
    /* Without client_max_window_bits in the offer the client may not be
     * told a window (§7.1.2.2): it keeps 15. */
    out->client_max_window_bits = 15;
    if (o->cmwb != ABSENT)
        out->client_max_window_bits =
            (uint8_t)min_bits(o->cmwb > 0 ? o->cmwb : 15, pref->client_max_window_bits);
}

static int response(const offer_t *o, const ws_deflate_params_t *p, char *resp, size_t cap)
{
    int n = snprintf(resp, cap, "permessage-deflate%s%s",
                     p->server_no_context_takeover ? "; server_no_context_takeover" : "",
                     p->client_no_context_takeover ? "; client_no_context_takeover" : "");
    if (n >= 0 && (o->smwb > 0 || p->server_max_window_bits < 15) && (size_t)n < cap)
        n += snprintf(resp + n, cap - (size_t)n, "; server_max_window_bits=%d",
                      p->server_max_window_bits);
    if (n >= 0 && p->client_max_window_bits < 15 && (size_t)n < cap)
        n += snprintf(resp + n, cap - (size_t)n, "; client_max_window_bits=%d",
                      p->client_max_window_bits);
    return n < 0 || (size_t)n >= cap ? UV_ENOBUFS : 1;
}

int ws_deflate_negotiate(const char *const *values, const size_t *lens, size_t nvalues,
                         const ws_deflate_params_t *pref, ws_deflate_params_t *out, char *resp,
                         size_t cap)
{
    static const ws_deflate_params_t defaults = {false, false, 15, 15};
    offer_t o;

    if (pref == NULL)
        pref = &defaults;
    for (size_t k = 0; k < nvalues; k++) {
        scan_t s = {values[k], lens[k], 0};
        while (next_offer(&s, &o)) {
            if (!o.is_pmd || o.bad)
                continue;
            settle(&o, pref, out);
            return response(&o, out, resp, cap);
        }
    }
    return 0;
}
