// Package launch is the contract between the operator and `byoda pod`: the
// pod's command-line flags, where its files are in its container, and the
// formats of the secrets it is given.
//
// The flags are defined once, by Pod.Bind. The byoda pod command binds
// them to parse its arguments; the operator builds a container's arguments
// with Pod.Args, which derives them from the same definition; and Parse
// reads arguments back, so that a test can check that what the operator
// builds is what the pod understands.
//
// A pod's container has the files of Paths: the PKI directory (in the
// layout of internal/pki Dir), the contracts, the owner's password file,
// the key-encryption key file (see NewKEK) and the data directory. The
// storage URL is internal/objstore's (objstore.ParseURL reads it).
package launch
