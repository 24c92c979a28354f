package kubetest

import "syscall"

// sysProcAttr makes the kernel kill etcd and kube-apiserver when the test binary dies without
// running its cleanups (a go test -timeout panic, a SIGKILL), so no server outlives its test.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
