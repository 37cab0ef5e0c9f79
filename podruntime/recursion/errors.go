package recursion

import "fmt"

// Reason says why a recursive query was refused; metrics count refusals
// by it.
type Reason string

// The reasons of a Refusal.
const (
	ReasonExtensions Reason = "extensions" // the envelope is missing or malformed
	ReasonSignature  Reason = "signature"  // the signature is missing or does not verify
	ReasonOrigin     Reason = "origin"     // the origin's member-data certificate cannot be had or does not fit
	ReasonTimestamp  Reason = "timestamp"  // signed too long ago, or in the future
	ReasonDepth      Reason = "depth"      // deeper than the contract allows, or hops that do not add up
	ReasonRelations  Reason = "relations"  // too many or too long relations
	ReasonCursor     Reason = "cursor"     // a malformed recursive cursor
	ReasonBusy       Reason = "busy"       // too many recent queries to remember
)

// Refusal is the error of a query a pod refuses to answer or forward.
type Refusal struct {
	Reason Reason
	Msg    string
}

func (e *Refusal) Error() string {
	return "recursive query refused (" + string(e.Reason) + "): " + e.Msg
}

func refuse(reason Reason, format string, args ...any) *Refusal {
	return &Refusal{Reason: reason, Msg: fmt.Sprintf(format, args...)}
}
