/*
 * targets.fix._speedups: the happy path of the FIX framer and parser in C,
 * the framing of outgoing messages (frame_body, frame_message), and the exchange's
 * ExecutionReport body (exec_report_body) and ClOrdIDs (clordid_*).
 *
 * Why: framing, checking and splitting a NewOrderSingle in Python cost about
 * a quarter of the exchange's CPU per order (bench/exchange_cpu), the largest
 * single item. This does the same walk over the received bytes without a
 * Python-level loop.
 *
 * Contract: the Python code in targets/fix/codec.py is the reference, and
 * this only ever takes its happy path: frame_messages(buf, pos, max_body) returns what
 * FixParser.messages() would yield from pos on, as (end, msg_type, fields),
 * and stops before the first message that is incomplete, garbled, has a
 * wrong CheckSum or an unusual field (one without '=', a tag that is not
 * 1 to 9 ASCII digits, a value with a byte outside ASCII, a tag already
 * seen: the Python framer flags the last two with their Problem); the
 * fields are those parse_body() would return.
 * Whatever is declined goes to the Python code, which waits, raises the error
 * with its message, or handles the rare case. So this file never reproduces
 * an error, and tests/unit/test_fix_speedups.py compares the two on
 * generated and garbled input.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

#define TAG_CACHE 10000 /* tags 0..9999 as preallocated ints: no allocation per field */
#define MAX_TAG_DIGITS 9

static PyObject *tag_ints[TAG_CACHE];

/* Parse tag=value<SOH>... in [p, stop) into `fields`.
 * 1: parsed; 0: unusual (the Python parser must decide); -1: a Python error is set. */
static int
parse_into(const char *p, const char *stop, PyObject *fields)
{
    while (p < stop) {
        const char *soh = memchr(p, '\x01', (size_t)(stop - p));
        const char *item_end = soh != NULL ? soh : stop;
        const char *next = soh != NULL ? soh + 1 : stop;
        if (item_end == p) { /* an empty item: "\x01\x01" */
            p = next;
            continue;
        }
        const char *eq = memchr(p, '=', (size_t)(item_end - p));
        Py_ssize_t digits = eq != NULL ? eq - p : 0;
        if (digits == 0 || digits > MAX_TAG_DIGITS)
            return 0;
        long tag = 0;
        for (const char *q = p; q < eq; q++) {
            if (*q < '0' || *q > '9')
                return 0;
            tag = tag * 10 + (*q - '0');
        }
        PyObject *key;
        if (tag < TAG_CACHE) {
            key = tag_ints[tag];
            Py_INCREF(key);
        } else if ((key = PyLong_FromLong(tag)) == NULL) {
            return -1;
        }
        PyObject *value = PyUnicode_DecodeLatin1(eq + 1, item_end - eq - 1, NULL);
        if (value == NULL) {
            Py_DECREF(key);
            return -1;
        }
        /* a byte above 127 makes the decoded string non-ASCII: a flag test, no scan */
        int ascii = PyUnicode_IS_ASCII(value);
        Py_ssize_t before = PyDict_GET_SIZE(fields);
        int rc = ascii ? PyDict_SetItem(fields, key, value) : 0;
        Py_DECREF(key);
        Py_DECREF(value);
        if (rc < 0)
            return -1;
        if (!ascii || PyDict_GET_SIZE(fields) == before) /* outside ASCII, or a tag seen already */
            return 0;
        p = next;
    }
    return 1;
}

/* One well-formed message at buf[pos:]: its end, MsgType and fields appended
 * to `out` as (end, msg_type, fields). 1: appended; 0: not the happy path
 * (incomplete, garbled, bad checksum, unusual field: Python decides); -1: error. */
static int
frame_one(const char *buf, Py_ssize_t size, Py_ssize_t pos, Py_ssize_t max_body, PyObject *out, Py_ssize_t *end_out)
{
    static const char begin[] = "8=FIX.4.4\x01" "9=";
    const Py_ssize_t begin_len = sizeof(begin) - 1;
    if (size - pos < begin_len || memcmp(buf + pos, begin, (size_t)begin_len) != 0)
        return 0;
    Py_ssize_t i = pos + begin_len, length = 0, digits = 0;
    for (; i < size && buf[i] >= '0' && buf[i] <= '9' && digits < 10; i++, digits++)
        length = length * 10 + (buf[i] - '0');
    if (digits == 0 || i >= size || buf[i] != '\x01' || length > max_body)
        return 0;
    Py_ssize_t body_start = i + 1, body_end = body_start + length, end = body_end + 7;
    if (end > size)
        return 0;
    const char *trailer = buf + body_end;
    if (trailer[0] != '1' || trailer[1] != '0' || trailer[2] != '=' || trailer[6] != '\x01')
        return 0;
    unsigned declared = 0;
    for (int k = 3; k < 6; k++) {
        if (trailer[k] < '0' || trailer[k] > '9')
            return 0;
        declared = declared * 10 + (unsigned)(trailer[k] - '0');
    }
    unsigned sum = 0;
    Py_ssize_t sohs = 0;
    for (Py_ssize_t k = body_start; k < body_end; k++) {
        sum += (unsigned char)buf[k];
        sohs += buf[k] == '\x01';
    }
    for (Py_ssize_t k = pos; k < body_start; k++)
        sum += (unsigned char)buf[k];
    if ((sum & 0xFF) != declared)
        return 0;
    /* sized for its fields (at most one per SOH) from the start: grown insert by insert, a
     * NewOrderSingle's dict was resized twice */
    PyObject *fields = _PyDict_NewPresized(sohs);
    if (fields == NULL)
        return -1;
    int rc = parse_into(buf + body_start, buf + body_end, fields);
    PyObject *msg_type = rc == 1 ? PyDict_GetItemWithError(fields, tag_ints[35]) : NULL; /* borrowed */
    if (rc != 1 || msg_type == NULL) {
        Py_DECREF(fields);
        return rc < 0 || PyErr_Occurred() ? -1 : 0;
    }
    PyObject *end_obj = PyLong_FromSsize_t(end);
    PyObject *item = end_obj != NULL ? PyTuple_New(3) : NULL;
    if (item == NULL) {
        Py_XDECREF(end_obj);
        Py_DECREF(fields);
        return -1;
    }
    Py_INCREF(msg_type);
    PyTuple_SET_ITEM(item, 0, end_obj);
    PyTuple_SET_ITEM(item, 1, msg_type);
    PyTuple_SET_ITEM(item, 2, fields); /* the tuple takes our reference */
    rc = PyList_Append(out, item);
    Py_DECREF(item);
    *end_out = end;
    return rc < 0 ? -1 : 1;
}

static PyObject *
frame_messages(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 && nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "frame_messages(buf, pos, max_body[, max_count]) takes 3 or 4 arguments");
        return NULL;
    }
    /* max_count: at most this many (a session taking a burst a slice at a time must not frame the
     * whole buffer for every slice); absent or <= 0: all */
    Py_ssize_t max_count = 0;
    if (nargs == 4) {
        max_count = PyLong_AsSsize_t(args[3]);
        if (max_count == -1 && PyErr_Occurred())
            return NULL;
    }
    Py_ssize_t pos = PyLong_AsSsize_t(args[1]);
    if (pos == -1 && PyErr_Occurred())
        return NULL;
    Py_ssize_t max_body = PyLong_AsSsize_t(args[2]);
    if (max_body == -1 && PyErr_Occurred())
        return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(args[0], &view, PyBUF_SIMPLE) < 0)
        return NULL;
    if (pos < 0 || pos > view.len) {
        PyErr_Format(PyExc_ValueError, "position %zd outside a buffer of %zd bytes", pos, view.len);
        PyBuffer_Release(&view);
        return NULL;
    }
    PyObject *out = PyList_New(0);
    int rc = out == NULL ? -1 : 1;
    while (rc == 1 && pos < view.len && (max_count <= 0 || PyList_GET_SIZE(out) < max_count))
        rc = frame_one((const char *)view.buf, view.len, pos, max_body, out, &pos);
    PyBuffer_Release(&view);
    if (rc < 0) {
        Py_XDECREF(out);
        return NULL;
    }
    return out;
}

/* frame_body(body: str) -> bytes: 8=FIX.4.4|9=len|body10=sum| for a body
 * from 35= to its last SOH; codec.py's Python frame_body is the reference.
 * Non-ASCII text raises the UnicodeEncodeError of body.encode("ascii"). */
static PyObject *
frame_body(PyObject *module, PyObject *body)
{
    PyObject *ascii = PyUnicode_AsASCIIString(body); /* the encode error, as in Python */
    if (ascii == NULL)
        return NULL;
    Py_ssize_t n = PyBytes_GET_SIZE(ascii);
    char head[40];
    int head_len = snprintf(head, sizeof(head), "8=FIX.4.4\x01" "9=%zd\x01", n);
    PyObject *out = PyBytes_FromStringAndSize(NULL, head_len + n + 7);
    if (out == NULL) {
        Py_DECREF(ascii);
        return NULL;
    }
    char *o = PyBytes_AS_STRING(out);
    memcpy(o, head, (size_t)head_len);
    memcpy(o + head_len, PyBytes_AS_STRING(ascii), (size_t)n);
    Py_DECREF(ascii);
    unsigned sum = 0;
    for (Py_ssize_t k = 0; k < head_len + n; k++)
        sum += (unsigned char)o[k];
    sum &= 0xFF;
    char *t = o + head_len + n;
    t[0] = '1';
    t[1] = '0';
    t[2] = '=';
    t[3] = (char)('0' + sum / 100);
    t[4] = (char)('0' + sum / 10 % 10);
    t[5] = (char)('0' + sum % 10);
    t[6] = '\x01';
    return out;
}

/* exec_report_body(order, exec_id, exec_type, status, last_qty, last_px, text, cl_ord_id,
 * orig_cl_ord_id, transact_time) -> str: the ExecutionReport body of targets/exchange/reports.py,
 * whose Python function (py_exec_report_body) is the reference.
 *
 * Why: its one %-format was the largest single item of the exchange's instructions per order
 * (about 12,000 of 107,000, callgrind): PyUnicode_Format's generic machinery for 20 conversions.
 * Here each value is copied or written as digits straight into the result.
 *
 * Only the usual values are taken: exact str that is ASCII, exact int within 64 bits, None where
 * the reference allows it. Anything else is handed to the reference itself, which the module
 * finds as its attribute exec_report_body_reference (set by reports.py): the same result or
 * the same error, whatever comes. */

enum { ER_PIECES = 64, ER_INT = 24 };

typedef struct {
    const char *ptr[ER_PIECES];
    Py_ssize_t len[ER_PIECES];
    int n;
    Py_ssize_t total;
    char digits[ER_PIECES][ER_INT];
    int ints;
} er_pieces;

static PyObject *er_names[12]; /* the Order attributes read, interned: er_name_text */
static const char *const er_name_text[12] = {"order_id", "cl_ord_id", "firm", "symbol", "side", "qty", "ord_type",
                                             "tif", "cum_qty", "leaves", "notional", "price"};

static void
er_lit(er_pieces *p, const char *text, Py_ssize_t len)
{
    p->ptr[p->n] = text;
    p->len[p->n++] = len;
    p->total += len;
}

#define ER_LIT(p, s) er_lit((p), (s), (Py_ssize_t)(sizeof(s) - 1))

/* an exact, ASCII str: its characters; 0 otherwise (the reference decides) */
static int
er_str(er_pieces *p, PyObject *o)
{
    if (!PyUnicode_CheckExact(o) || !PyUnicode_IS_ASCII(o))
        return 0;
    er_lit(p, (const char *)PyUnicode_DATA(o), PyUnicode_GET_LENGTH(o));
    return 1;
}

static char *
er_digits(long long v, char *end)
{
    unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;
    do {
        *--end = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        *--end = '-';
    return end;
}

/* an exact int within 64 bits, as "%d" writes it; 0 otherwise */
static int
er_int_value(PyObject *o, long long *v)
{
    if (!PyLong_CheckExact(o))
        return 0;
    int overflow;
    *v = PyLong_AsLongLongAndOverflow(o, &overflow);
    return !overflow && !(*v == -1 && PyErr_Occurred());
}

static void
er_ll(er_pieces *p, long long v)
{
    char *end = p->digits[p->ints] + ER_INT;
    char *start = er_digits(v, end);
    p->ints++;
    er_lit(p, start, end - start);
}

static int
er_int(er_pieces *p, PyObject *o)
{
    long long v;
    if (!er_int_value(o, &v))
        return 0;
    er_ll(p, v);
    return 1;
}

/* cents as "%d.%02d" % divmod(cents, 100) writes them (floor division, as Python's) */
static int
er_cents(er_pieces *p, PyObject *o)
{
    long long v;
    if (!er_int_value(o, &v) || v < -(1LL << 62) || v > (1LL << 62))
        return 0;
    long long whole = v / 100, frac = v % 100;
    if (frac < 0) {
        frac += 100;
        whole -= 1;
    }
    char *end = p->digits[p->ints] + ER_INT;
    char *start = end;
    *--start = (char)('0' + frac % 10);
    *--start = (char)('0' + frac / 10);
    *--start = '.';
    start = er_digits(whole, start);
    p->ints++;
    er_lit(p, start, end - start);
    return 1;
}

/* a literal (the tag and '=', after the last field's SOH), then the value; not a usual value: the
 * reference decides (er_build returns 0) */
#define ER_FIELD(p, lit, put, o)  \
    do {                          \
        ER_LIT((p), lit);         \
        if (!put((p), (o)))       \
            return 0;             \
    } while (0)

/* 1: the body is in *out; 0: not the usual values (the reference decides); -1: error */
static int
er_build(PyObject *const *args, PyObject **values, PyObject **out)
{
    er_pieces p;
    p.n = 0;
    p.total = 0;
    p.ints = 0;
    PyObject *order_id = values[0], *order_cl = values[1], *firm = values[2], *symbol = values[3];
    PyObject *side = values[4], *qty = values[5], *ord_type = values[6], *tif = values[7];
    PyObject *cum = values[8], *leaves = values[9], *notional = values[10];
    PyObject *exec_id = args[1], *exec_type = args[2], *status = args[3], *last_qty = args[4], *last_px = args[5];
    PyObject *text = args[6], *cl_ord_id = args[7], *orig = args[8], *transact_time = args[9];
    int truth;

    ER_FIELD(&p, "37=", er_str, order_id);
    ER_FIELD(&p, "\x01" "17=", er_str, exec_id);
    ER_LIT(&p, "\x01" "11=");
    if ((truth = PyObject_IsTrue(cl_ord_id)) < 0)
        return -1;
    if (!er_str(&p, truth ? cl_ord_id : order_cl))
        return 0;
    ER_LIT(&p, "\x01");
    if ((truth = PyObject_IsTrue(orig)) < 0)
        return -1;
    if (truth) {
        ER_FIELD(&p, "41=", er_str, orig);
        ER_LIT(&p, "\x01");
    }
    ER_FIELD(&p, "1=", er_str, firm);
    ER_FIELD(&p, "\x01" "55=", er_str, symbol);
    ER_FIELD(&p, "\x01" "54=", er_int, side);
    ER_FIELD(&p, "\x01" "38=", er_int, qty);
    ER_LIT(&p, "\x01");
    if (values[11] != Py_None) { /* the order's price */
        ER_FIELD(&p, "44=", er_cents, values[11]);
        ER_LIT(&p, "\x01");
    }
    ER_FIELD(&p, "40=", er_int, ord_type);
    ER_FIELD(&p, "\x01" "59=", er_int, tif);
    ER_FIELD(&p, "\x01" "150=", er_str, exec_type);
    ER_FIELD(&p, "\x01" "39=", er_str, status);
    ER_FIELD(&p, "\x01" "32=", er_int, last_qty);
    ER_LIT(&p, "\x01" "31=");
    if (last_px == Py_None)
        ER_LIT(&p, "0");
    else if (!er_cents(&p, last_px))
        return 0;
    ER_LIT(&p, "\x01" "14=");
    long long cum_v, notional_v;
    if (!er_int_value(cum, &cum_v))
        return 0;
    er_ll(&p, cum_v);
    ER_LIT(&p, "\x01" "151=");
    if (!er_int(&p, leaves))
        return 0;
    ER_LIT(&p, "\x01" "6=");
    char *avg = NULL;
    if (cum_v == 0) {
        ER_LIT(&p, "0");
    } else {
        /* notional / cum / 100 as Python divides: exact ints within 2**53 make it two double divisions */
        const long long exact = 1LL << 53;
        if (!er_int_value(notional, &notional_v) || notional_v > exact || notional_v < -exact
            || cum_v > exact || cum_v < -exact)
            return 0;
        avg = PyOS_double_to_string((double)notional_v / (double)cum_v / 100.0, 'f', 4, 0, NULL);
        if (avg == NULL)
            return -1;
        er_lit(&p, avg, (Py_ssize_t)strlen(avg));
    }
    ER_LIT(&p, "\x01");
    int rc = 1;
    if ((truth = PyObject_IsTrue(text)) < 0) {
        rc = -1;
        goto done;
    }
    if (truth) {
        ER_LIT(&p, "58=");
        if (!er_str(&p, text)) {
            rc = 0;
            goto done;
        }
        ER_LIT(&p, "\x01");
    }
    ER_LIT(&p, "60=");
    if (!er_str(&p, transact_time)) {
        rc = 0;
        goto done;
    }
    ER_LIT(&p, "\x01");
    *out = PyUnicode_New(p.total, 127);
    if (*out == NULL) {
        rc = -1;
        goto done;
    }
    char *w = (char *)PyUnicode_DATA(*out);
    for (int i = 0; i < p.n; i++) {
        memcpy(w, p.ptr[i], (size_t)p.len[i]);
        w += p.len[i];
    }
done:
    if (avg != NULL)
        PyMem_Free(avg);
    return rc;
}

/* Where the order's attributes are: the slots of one class, as CPython's own LOAD_ATTR_SLOT finds
 * them (the class unchanged since, by its version tag). A generic getattr of the twelve cost as
 * much as the rest of the body. */
static PyTypeObject *er_type;
static unsigned int er_version;
static Py_ssize_t er_offsets[12];

static void
er_learn(PyTypeObject *type)
{
    if (!PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG) || type->tp_getattro != PyObject_GenericGetAttr)
        return;
    Py_ssize_t offsets[12];
    for (int i = 0; i < 12; i++) {
        PyObject *descr = PyDict_GetItemWithError(type->tp_dict, er_names[i]); /* borrowed */
        if (descr == NULL || !Py_IS_TYPE(descr, &PyMemberDescr_Type)) {
            PyErr_Clear();
            return;
        }
        PyMemberDef *member = ((PyMemberDescrObject *)descr)->d_member;
        if (member->type != T_OBJECT_EX)
            return;
        offsets[i] = member->offset;
    }
    Py_INCREF(type);
    Py_XSETREF(er_type, type);
    er_version = type->tp_version_tag;
    memcpy(er_offsets, offsets, sizeof(offsets));
}

static PyObject *
exec_report_body(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 10) {
        PyErr_SetString(PyExc_TypeError, "exec_report_body takes 10 arguments");
        return NULL;
    }
    PyObject *values[12] = {NULL};
    PyObject *out = NULL;
    int rc = 1;
    PyTypeObject *type = Py_TYPE(args[0]);
    if (type == er_type && type->tp_version_tag == er_version
            && PyType_HasFeature(type, Py_TPFLAGS_VALID_VERSION_TAG)) {
        for (int i = 0; i < 12 && rc == 1; i++) {
            values[i] = *(PyObject **)((char *)args[0] + er_offsets[i]);
            if (values[i] == NULL)
                rc = 0; /* a slot never set: the reference raises its AttributeError */
            else
                Py_INCREF(values[i]);
        }
    } else {
        for (int i = 0; i < 12 && rc == 1; i++) {
            if ((values[i] = PyObject_GetAttr(args[0], er_names[i])) == NULL) {
                /* not an Order: the reference says what is wrong with it */
                rc = PyErr_ExceptionMatches(PyExc_AttributeError) ? 0 : -1;
                if (rc == 0)
                    PyErr_Clear();
            }
        }
        if (rc == 1)
            er_learn(type);
    }
    if (rc == 1)
        rc = er_build(args, values, &out);
    for (int i = 0; i < 12; i++)
        Py_XDECREF(values[i]);
    if (rc < 0)
        return NULL;
    if (rc == 1)
        return out;
    PyObject *reference = PyObject_GetAttrString(module, "exec_report_body_reference");
    if (reference == NULL)
        return NULL;
    out = PyObject_Vectorcall(reference, args, (size_t)nargs, NULL);
    Py_DECREF(reference);
    return out;
}

/* frame_message(msg_type, sender, target, seq, sending_time, body) -> bytes: the whole message
 * with its header (35, 49, 56, 34, 52) before a body from the field after SendingTime on;
 * codec.py's py_frame_message is the reference. It was the session's f-string and frame_body: the
 * header formatted into a str, encoded to bytes, copied again around it. Here it is written once.
 * What is not exact ASCII str (and an exact int MsgSeqNum within 64 bits) goes to the reference,
 * the module's attribute frame_message_reference (set by codec.py): the same bytes or error. */
static PyObject *
frame_message(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    static const char *const tags[5] = {"35=", "\x01" "49=", "\x01" "56=", "\x01" "34=", "\x01" "52="};
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "frame_message takes 6 arguments");
        return NULL;
    }
    const char *text[6];
    Py_ssize_t len[6];
    char digits[24];
    int usual = 1;
    for (int i = 0; i < 6 && usual; i++) {
        PyObject *o = args[i];
        if (i == 3) {
            long long seq;
            if (!er_int_value(o, &seq)) {
                usual = 0;
                PyErr_Clear();
                break;
            }
            text[i] = er_digits(seq, digits + sizeof(digits));
            len[i] = digits + sizeof(digits) - text[i];
        } else if (PyUnicode_CheckExact(o) && PyUnicode_IS_ASCII(o)) {
            text[i] = (const char *)PyUnicode_DATA(o);
            len[i] = PyUnicode_GET_LENGTH(o);
        } else {
            usual = 0;
        }
    }
    if (!usual) {
        PyObject *reference = PyObject_GetAttrString(module, "frame_message_reference");
        if (reference == NULL)
            return NULL;
        PyObject *out = PyObject_Vectorcall(reference, args, (size_t)nargs, NULL);
        Py_DECREF(reference);
        return out;
    }
    /* 35=... 49=... 56=... 34=... 52=...<SOH> then the body */
    Py_ssize_t n = len[5] + 1;
    for (int i = 0; i < 5; i++)
        n += (Py_ssize_t)strlen(tags[i]) + len[i];
    char head[40];
    int head_len = snprintf(head, sizeof(head), "8=FIX.4.4\x01" "9=%zd\x01", n);
    PyObject *out = PyBytes_FromStringAndSize(NULL, head_len + n + 7);
    if (out == NULL)
        return NULL;
    char *o = PyBytes_AS_STRING(out), *w = o;
    memcpy(w, head, (size_t)head_len);
    w += head_len;
    for (int i = 0; i < 5; i++) {
        size_t tag_len = strlen(tags[i]);
        memcpy(w, tags[i], tag_len);
        w += tag_len;
        memcpy(w, text[i], (size_t)len[i]);
        w += len[i];
    }
    *w++ = '\x01';
    memcpy(w, text[5], (size_t)len[5]);
    w += len[5];
    unsigned sum = 0;
    for (const char *k = o; k < w; k++)
        sum += (unsigned char)*k;
    sum &= 0xFF;
    w[0] = '1';
    w[1] = '0';
    w[2] = '=';
    w[3] = (char)('0' + sum / 100);
    w[4] = (char)('0' + sum / 10 % 10);
    w[5] = (char)('0' + sum % 10);
    w[6] = '\x01';
    return out;
}

/* The day's ClOrdIDs of an exchange session (targets/exchange/clordids.py, whose
 * Python code is the reference): each a 64-bit hash() in one of a power-of-two
 * list of partitions (picked by the hash's low bits), each partition a bytearray
 * of sorted native int64s, created on first use (None until then). One call
 * does the hash, the binary search and the insert that Python did in several:
 * about 1 µs an order less. */
static int
clordid_find(PyObject *const *args, Py_ssize_t nargs, int add)
{
    if (nargs != 2 || !PyList_CheckExact(args[0])) {
        PyErr_SetString(PyExc_TypeError, "expected (parts: list, cl_ord_id)");
        return -1;
    }
    PyObject *parts = args[0];
    Py_ssize_t n = PyList_GET_SIZE(parts);
    if (n <= 0 || (n & (n - 1)) != 0) {
        PyErr_SetString(PyExc_ValueError, "the number of partitions must be a power of two");
        return -1;
    }
    Py_hash_t h = PyObject_Hash(args[1]);
    if (h == -1 && PyErr_Occurred())
        return -1;
    int64_t key = (int64_t)h;
    Py_ssize_t index = (Py_ssize_t)((uint64_t)key & (uint64_t)(n - 1));
    PyObject *part = PyList_GET_ITEM(parts, index);
    if (part == Py_None) {
        if (!add)
            return 0;
        part = PyByteArray_FromStringAndSize(NULL, 0);
        if (part == NULL)
            return -1;
        PyList_SetItem(parts, index, part); /* steals the reference; the list keeps it alive */
    } else if (!PyByteArray_CheckExact(part)) {
        PyErr_SetString(PyExc_TypeError, "a partition must be a bytearray or None");
        return -1;
    }
    Py_ssize_t size = PyByteArray_GET_SIZE(part);
    Py_ssize_t count = size / 8;
    const char *items = PyByteArray_AS_STRING(part);
    Py_ssize_t lo = 0, hi = count;
    while (lo < hi) {
        Py_ssize_t mid = lo + (hi - lo) / 2;
        int64_t v;
        memcpy(&v, items + mid * 8, 8);
        if (v < key)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo < count) {
        int64_t v;
        memcpy(&v, items + lo * 8, 8);
        if (v == key)
            return 1;
    }
    if (!add)
        return 0;
    if (PyByteArray_Resize(part, size + 8) < 0) /* over-allocates: appends are amortised */
        return -1;
    char *buf = PyByteArray_AS_STRING(part);
    memmove(buf + (lo + 1) * 8, buf + lo * 8, (size_t)(count - lo) * 8);
    memcpy(buf + lo * 8, &key, 8);
    return 2;
}

/* clordid_add(parts, cl_ord_id) -> bool: False when it was there already, else added */
static PyObject *
clordid_add(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int rc = clordid_find(args, nargs, 1);
    if (rc < 0)
        return NULL;
    return PyBool_FromLong(rc == 2);
}

/* clordid_contains(parts, cl_ord_id) -> bool */
static PyObject *
clordid_contains(PyObject *module, PyObject *const *args, Py_ssize_t nargs)
{
    int rc = clordid_find(args, nargs, 0);
    if (rc < 0)
        return NULL;
    return PyBool_FromLong(rc == 1);
}

static PyMethodDef methods[] = {
    {"clordid_add", (PyCFunction)(void (*)(void))clordid_add, METH_FASTCALL,
     "clordid_add(parts: list[bytearray | None], cl_ord_id: str) -> bool\n\n"
     "Add hash(cl_ord_id) to its partition (sorted int64s); False when it was there."},
    {"clordid_contains", (PyCFunction)(void (*)(void))clordid_contains, METH_FASTCALL,
     "clordid_contains(parts: list[bytearray | None], cl_ord_id: str) -> bool"},
    {"frame_messages", (PyCFunction)(void (*)(void))frame_messages, METH_FASTCALL,
     "frame_messages(buf, pos, max_body[, max_count]) -> list[tuple[int, str, dict[int, str]]]\n\n"
     "Every well-formed message from pos on, as (end, msg_type, fields), stopping\n"
     "at the first one that is incomplete or not on the happy path (the Python\n"
     "framer decides about that one: wait, drop or garble)."},
    {"exec_report_body", (PyCFunction)(void (*)(void))exec_report_body, METH_FASTCALL,
     "exec_report_body(order, exec_id, exec_type, status, last_qty, last_px, text, cl_ord_id, orig_cl_ord_id,\n"
     "                 transact_time) -> str\n\n"
     "targets/exchange/reports.py's ExecutionReport body; what it does not take goes to\n"
     "the module's exec_report_body_reference."},
    {"frame_message", (PyCFunction)(void (*)(void))frame_message, METH_FASTCALL,
     "frame_message(msg_type, sender, target, seq, sending_time, body) -> bytes\n\n"
     "The whole message: header (35, 49, 56, 34, 52), body, BodyLength and CheckSum; what it\n"
     "does not take goes to the module's frame_message_reference."},
    {"frame_body", (PyCFunction)frame_body, METH_O,
     "frame_body(body: str) -> bytes\n\nThe whole message around a body (35=... up to its last SOH):\n"
     "BeginString, BodyLength, the body and CheckSum."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "targets.fix._speedups", "The FIX framer's happy path in C (see frame_messages).", -1, methods,
};

PyMODINIT_FUNC
PyInit__speedups(void)
{
    for (long i = 0; i < TAG_CACHE; i++) {
        if (tag_ints[i] == NULL) {
            tag_ints[i] = PyLong_FromLong(i);
            if (tag_ints[i] == NULL)
                return NULL;
        }
    }
    for (int i = 0; i < 12; i++) {
        if (er_names[i] == NULL && (er_names[i] = PyUnicode_InternFromString(er_name_text[i])) == NULL)
            return NULL;
    }
    return PyModule_Create(&module_def);
}
