package graphql

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/99designs/gqlgen/graphql/handler/transport"
)

// postTransport is gqlgen's POST transport with a faster way out for the
// common case. The executor already writes the response's data as compact
// JSON; gqlgen's transport runs it through json.Marshal again, which
// re-scans every byte of a RawMessage and cost a quarter of a 20-record list
// request. So a request whose body decodes gets its response written
// directly, with gqlgen's status codes and error bodies (an operation that
// does not validate, or costs too much, is not checked twice); everything
// else (bodies that do not decode, clients that accept only
// application/graphql-response+json) is handed to transport.POST as it
// came.
type postTransport struct {
	gqlgen transport.POST
}

var _ graphql.Transport = postTransport{}

func (t postTransport) Supports(r *http.Request) bool { return t.gqlgen.Supports(r) }

func (t postTransport) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	var body []byte
	var err error
	if b, ok := r.Body.(*requestBody); ok {
		body = b.b // read by httpHandler, which gives it back
	} else {
		body, err = readBody(getBuffer(), r.Body)
		defer putBuffer(body)
	}
	if err != nil || !acceptsJSON(r.Header.Get("Accept")) {
		t.fallback(w, r, body, exec)
		return
	}
	var params graphql.RawParams
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&params); err != nil {
		t.fallback(w, r, body, exec)
		return
	}
	params.Headers = r.Header
	start := graphql.Now()
	params.ReadTime = graphql.TraceTiming{Start: start, End: start}

	ctx := r.Context()
	rc, opErr := exec.CreateOperationContext(ctx, &params)
	if opErr != nil {
		// Answered as gqlgen's transport answers it, without parsing,
		// validating and costing the operation a second time.
		status := http.StatusOK
		if errcode.GetErrorKind(opErr) == errcode.KindProtocol {
			status = http.StatusUnprocessableEntity
		}
		resp := exec.DispatchError(graphql.WithOperationContext(ctx, rc), opErr)
		out := appendResponse(getBuffer(), resp)
		writeJSON(w, status, out)
		putBuffer(out)
		return
	}
	responses, ctx := exec.DispatchOperation(ctx, rc)
	resp := responses(ctx)
	out := appendResponse(getBuffer(), resp)
	writeJSON(w, http.StatusOK, out)
	putBuffer(out)
	putBuffer(resp.Data)
}

// writeJSON answers with status and the JSON body out. With its length
// given, net/http sends it as it is, in one write: without, a body larger
// than its 2 KiB buffer goes chunked, and the end of the chunks is a
// second write (and TLS record) after the handler returns.
func writeJSON(w http.ResponseWriter, status int, out []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(status)
	_, _ = w.Write(out)
}

// readBody appends all of body to b, as io.ReadAll does into a new slice.
func readBody(b []byte, body io.Reader) ([]byte, error) {
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// fallback hands the request, with the body already read, to gqlgen's POST
// transport.
func (t postTransport) fallback(w http.ResponseWriter, r *http.Request, body []byte, exec graphql.GraphExecutor) {
	r2 := r.Clone(r.Context())
	r2.Body = io.NopCloser(bytes.NewReader(body))
	t.gqlgen.Do(w, r2, exec)
}

// acceptsJSON reports whether gqlgen's POST transport would answer with
// application/json for this Accept header (with its default settings): no
// header, or one that names application/json, */* or application/* before
// application/graphql-response+json.
func acceptsJSON(accept string) bool {
	if accept == "" {
		return true
	}
	for part := range strings.SplitSeq(accept, ",") {
		mediaType, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil {
			continue
		}
		switch mediaType {
		case "application/json", "*/*", "application/*":
			return true
		case "application/graphql-response+json":
			return false
		}
	}
	return false
}

// appendResponse writes resp as json.Marshal would, field for field, but
// copies Data as it is: the executor wrote it compact and valid.
func appendResponse(b []byte, resp *graphql.Response) []byte {
	if resp.Label != "" || resp.Path != nil || resp.HasNext != nil {
		// Incremental delivery, which this schema never produces: let
		// encoding/json get every field right.
		out, _ := json.Marshal(resp)
		return append(b, out...)
	}
	b = append(b, '{')
	if len(resp.Errors) > 0 {
		errs, _ := json.Marshal(resp.Errors)
		b = append(b, `"errors":`...)
		b = append(b, errs...)
		b = append(b, ',')
	}
	b = append(b, `"data":`...)
	if len(resp.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, resp.Data...)
	}
	if len(resp.Extensions) > 0 {
		ext, _ := json.Marshal(resp.Extensions)
		b = append(b, `,"extensions":`...)
		b = append(b, ext...)
	}
	return append(b, '}')
}
