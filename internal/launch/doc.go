// Package launch is the contract between the operator and the byoda
// processes it runs in containers, `byoda pod` and `byoda service`: their
// command-line flags, where their files are in their containers, and the
// formats of the secrets they are given.
//
// The flags are defined once, by Pod.Bind and ServiceDirectory.Bind. The
// byoda pod and byoda service commands bind them to parse their
// arguments; the operator builds a container's arguments with Args, which
// derives them from the same definition; and Parse and
// ParseServiceDirectory read arguments back, so that a test can check that
// what the operator builds is what the command understands.
//
// A pod's container has the files of Paths: the PKI directory (in the
// layout of internal/pki Dir), the contracts, the owner's password file,
// the key-encryption key file (see NewKEK) and the data directory. The
// storage URL is internal/objstore's (objstore.ParseURL reads it). A
// service directory's container has its PKI directory at PKIDir, its
// countersigned contract at ServiceContractFile and its registry in
// DataDir.
package launch
