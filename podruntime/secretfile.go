package podruntime

import (
	"fmt"
	"io/fs"
	"os"
)

// checkSecretFile refuses a secret file (the owner's password, the
// key-encryption key) that others than the pod's user could read or
// change, as ssh refuses an exposed private key. flag names the file's
// flag in the message. It follows symbolic links: a Kubernetes Secret
// volume's files link into its ..data directory, and the target's mode is
// what counts.
func checkSecretFile(flag, file string) error {
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("%s: %w", flag, err)
	}
	owner, ok := fileOwner(fi)
	if !ok {
		return nil
	}
	return secretModeProblem(flag, file, fi.Mode(), owner, effectiveUser())
}

// secretModeProblem applies the rule to a file of mode, owned by user
// owner, read by user euid:
//
//   - other users may not have any access;
//   - when the pod's user owns the file, its group may not either
//     (0600 or 0400, what 'chmod 600' makes);
//   - when another user owns it, its group may read it but not change it
//     (0440 or 0640): that is how the kubelet mounts a Secret for a pod
//     that runs as a user of its own, owned by root with the pod's
//     fsGroup as group, and a pod with a group of its own is the only
//     member of that group.
//
// The same rule as PostgreSQL's for its server key.
func secretModeProblem(flag, file string, mode fs.FileMode, owner, euid int) error {
	perm := mode.Perm()
	switch {
	case perm&0o007 != 0:
		return fmt.Errorf("%s %s can be read or changed by every user (mode %04o): a secret must be readable by the pod's user alone; "+
			"run 'chmod 600 %s' (in Kubernetes, give the Secret volume defaultMode 0400 or 0440)", flag, file, perm, file)
	case owner == euid && perm&0o070 != 0:
		return fmt.Errorf("%s %s can be read or changed by its group (mode %04o): a secret must be readable by the pod's user alone; "+
			"run 'chmod 600 %s'", flag, file, perm, file)
	case owner != euid && perm&0o030 != 0:
		return fmt.Errorf("%s %s can be changed by its group (mode %04o): a secret must be read-only to all but its owner; "+
			"have its owner (user %d) run 'chmod 440 %s'", flag, file, perm, owner, file)
	}
	return nil
}
