package tracker

import "regexp"

// kernelABI is the kernel ABI Ubuntu puts in the names of its kernel packages:
// linux-image-6.8.0-1064-azure, linux-azure-fips-cloud-tools-5.15.0-1118.
var kernelABI = regexp.MustCompile(`\d+\.\d+\.\d+-\d+`)

// KernelPackageKey is a package name with the kernel ABI blanked, so that a kernel
// upgrade (linux-image-6.8.0-1064-azure -> linux-image-6.8.0-1065-azure) is one package
// changing version, not one removed and another added. Other names are returned as they
// are.
func KernelPackageKey(name string) string {
	if len(name) < 6 || name[:6] != "linux-" {
		return name
	}
	return kernelABI.ReplaceAllLiteralString(name, "*")
}
