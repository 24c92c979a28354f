package vhdnotes_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nodewatch/nodewatch/tracker"
	"github.com/nodewatch/nodewatch/tracker/trackertest"
	"github.com/nodewatch/nodewatch/tracker/vhdnotes"
)

var worlds = []string{"2026-02-11", "2026-04-30", "2026-05-31"}

func TestParse(t *testing.T) {
	type want struct {
		os        tracker.OS
		kernel    string
		buildTime string
		buildID   string
		commit    string
	}
	tests := []struct {
		world, family, version string // world "" names a file of samples/
		want                   want
	}{
		{"2026-05-31", "AKSFlatcar/gen2", "202605.27.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4694.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4694.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4694.0.0"}, "6.12.87-flatcar", "2026-05-27T14:35:24Z", "20260527.3_main_165730333", "a0e407d7f33cb04d31ea4b77ebb61ef5c7cf5e67"}},
		// VERSION=4547.0.0 is unquoted in this one.
		{"2026-05-31", "AKSFlatcar/gen2", "202601.27.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4547.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4547.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4547.0.0 (Oklo)"}, "6.12.61-flatcar", "2026-01-27T18:53:48Z", "20260127.1_main_150827388", "f9bf5e69dcf39b15ac54e80ff1bd56ae9bf1044a"}},
		{"2026-05-31", "AKSFlatcar/gen2", "202603.12.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4628.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4628.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4628.0.0"}, "6.12.74-flatcar", "2026-03-12T18:52:16Z", "20260312.2_main_156527748", "a2ebeece2e94ccf22ce3a532306269ba0cf9a8f9"}},
		{"2026-05-31", "AKSFlatcar/gen2", "202605.14.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4694.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4694.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4694.0.0"}, "6.12.87-flatcar", "2026-05-14T07:20:59Z", "20260514.1_main_164143451", "b898bee8e47f30aadfa7cce7288da942b96964ed"}},
		{"2026-04-30", "AKSFlatcar/gen2", "202602.13.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4593.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4593.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4593.0.0 (Oklo)"}, "6.12.66-flatcar", "2026-02-13T06:08:58Z", "20260213.2_main_153053593", "1185c8f9304150e54a84192dbff97bf933f6540a"}},
		// Withdrawn upstream a day later; only the February snapshot has it.
		{"2026-02-11", "AKSFlatcar/gen2", "202602.10.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4593.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4593.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4593.0.0 (Oklo)"}, "6.12.66-flatcar", "2026-02-10T22:32:23Z", "20260210.3_main_152666373", "a9a2e97d21845ce972af7146047c59a628d89947"}},
		{"2026-05-31", "AKSFlatcar/gen2arm64", "202605.27.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4694.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4694.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4694.0.0"}, "6.12.87-flatcar", "2026-05-27T14:35:33Z", "20260527.3_main_165730333", "a0e407d7f33cb04d31ea4b77ebb61ef5c7cf5e67"}},
		{"2026-05-31", "AKSFlatcar/gen2arm64", "202603.30.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4628.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4628.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4628.0.0"}, "6.12.74-flatcar", "2026-03-30T08:17:39Z", "20260330.1_main_158649029", "1d2fc1383ea06badf39d5509d7af624012d0a26d"}},
		{"2026-02-11", "AKSFlatcar/gen2arm64", "202601.27.0", want{tracker.OS{Name: "Flatcar Container Linux by Kinvolk", Version: ptr("4547.0.0"), ID: "flatcar", IDLike: "coreos", VersionID: "4547.0.0", PrettyName: "Flatcar Container Linux by Kinvolk 4547.0.0 (Oklo)"}, "6.12.61-flatcar", "2026-01-27T18:51:29Z", "20260127.1_main_150827388", "f9bf5e69dcf39b15ac54e80ff1bd56ae9bf1044a"}},
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202501.05.0", want{tracker.OS{Name: "Microsoft Azure Linux", Version: ptr("3.0.20241203"), ID: "azurelinux", VersionID: "3.0", PrettyName: "Microsoft Azure Linux 3.0"}, "6.6.57.1-6.azl3", "2025-01-05T09:09:22Z", "20250105.1_master_111733188", "0f6b0c86649e6a5a8e7a4c2cd646aae80449b7ff"}},
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202502.26.0", want{tracker.OS{Name: "Microsoft Azure Linux", Version: ptr("3.0.20250206"), ID: "azurelinux", VersionID: "3.0", PrettyName: "Microsoft Azure Linux 3.0"}, "6.6.64.2-9.azl3", "2025-02-26T21:56:03Z", "20250226.3_master_116339582", "06730003bdd44d83bb364ff76694c6b1d778759c"}},
		// Built on 2025-09-05, after later versions: build order is not version order.
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202508.20.1", want{tracker.OS{Name: "Microsoft Azure Linux", Version: ptr("3.0.20250822"), ID: "azurelinux", VersionID: "3.0", PrettyName: "Microsoft Azure Linux 3.0"}, "6.6.96.2-1.azl3", "2025-09-05T00:36:34Z", "20250905.1_v20250820_136089710", "0bca6bea7550373eb44e6dacd2912e03b3f5841f"}},
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202510.03.0", want{tracker.OS{Name: "Microsoft Azure Linux", Version: ptr("3.0.20250910"), ID: "azurelinux", VersionID: "3.0", PrettyName: "Microsoft Azure Linux 3.0"}, "6.6.104.2-1.azl3", "2025-10-03T05:42:31Z", "20251003.1_master_139168196", "ec3c40e50991207739bc2fc98e79f4c6257ec838"}},
		{"2026-04-30", "AKSAzureLinuxV3/gen2", "202604.13.0", want{tracker.OS{Name: "Microsoft Azure Linux", Version: ptr("3.0.20260401"), ID: "azurelinux", VersionID: "3.0", PrettyName: "Microsoft Azure Linux 3.0"}, "6.6.130.1-3.azl3", "2026-04-13T08:21:38Z", "20260413.1_main_160210743", "cbbe1e87fa379ced8f474a13f84877dcfb8c8759"}},
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202605.27.0", want{tracker.OS{Name: "Microsoft Azure Linux", Version: ptr("3.0.20260517"), ID: "azurelinux", VersionID: "3.0", PrettyName: "Microsoft Azure Linux 3.0"}, "6.6.139.1-1.azl3", "2026-05-27T14:34:12Z", "20260527.3_main_165730333", "a0e407d7f33cb04d31ea4b77ebb61ef5c7cf5e67"}},
		{"2026-02-11", "AKSAzureLinuxV3/gen2", "202602.10.0", want{tracker.OS{Name: "Microsoft Azure Linux", Version: ptr("3.0.20260204"), ID: "azurelinux", VersionID: "3.0", PrettyName: "Microsoft Azure Linux 3.0"}, "6.6.121.1-1.azl3", "2026-02-10T22:31:58Z", "20260210.3_main_152666373", "a9a2e97d21845ce972af7146047c59a628d89947"}},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202501.22.0", want{tracker.OS{Name: "Ubuntu", Version: ptr("24.04.1 LTS (Noble Numbat)"), ID: "ubuntu", IDLike: "debian", VersionID: "24.04", PrettyName: "Ubuntu 24.04.1 LTS"}, "6.8.0-1020-azure", "2025-01-22T20:50:34Z", "20250122.4_master_113163756", "c3de6a086f9540e0000e4ae53deb25edeffadf80"}},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202508.11.0", want{tracker.OS{Name: "Ubuntu", Version: ptr("24.04.3 LTS (Noble Numbat)"), ID: "ubuntu", IDLike: "debian", VersionID: "24.04", PrettyName: "Ubuntu 24.04.3 LTS"}, "6.8.0-1031-azure", "2025-08-11T18:08:53Z", "20250811.1_master_133445857", "be4a33fa4c1c4d317f6dfb9b5cfd534cba8dbbd0"}},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202602.13.5", want{tracker.OS{Name: "Ubuntu", Version: ptr("24.04.4 LTS (Noble Numbat)"), ID: "ubuntu", IDLike: "debian", VersionID: "24.04", PrettyName: "Ubuntu 24.04.4 LTS"}, "6.8.0-1046-azure", "2026-02-27T17:29:43Z", "20260227.6_v20260213_154851160", "fcc44af37166410f0b512168663f4fa8aaa03b7b"}},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202603.12.1", want{tracker.OS{Name: "Ubuntu", Version: ptr("24.04.4 LTS (Noble Numbat)"), ID: "ubuntu", IDLike: "debian", VersionID: "24.04", PrettyName: "Ubuntu 24.04.4 LTS"}, "6.8.0-1051-azure", "2026-03-26T22:41:36Z", "20260326.4_v20260312_158348749", "93f7f814a119b28d52a639efdd60d056f4a5c962"}},
		{"2026-04-30", "AKSUbuntu/gen2/2404containerd", "202604.24.0", want{tracker.OS{Name: "Ubuntu", Version: ptr("24.04.4 LTS (Noble Numbat)"), ID: "ubuntu", IDLike: "debian", VersionID: "24.04", PrettyName: "Ubuntu 24.04.4 LTS"}, "6.8.0-1052-azure", "2026-04-24T08:21:12Z", "20260424.1_main_161642798", "b1738df1c3e4d6627de031cc3e8b5270ad88c957"}},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202605.27.0", want{tracker.OS{Name: "Ubuntu", Version: ptr("24.04.4 LTS (Noble Numbat)"), ID: "ubuntu", IDLike: "debian", VersionID: "24.04", PrettyName: "Ubuntu 24.04.4 LTS"}, "6.8.0-1056-azure", "2026-05-27T14:34:56Z", "20260527.3_main_165730333", "a0e407d7f33cb04d31ea4b77ebb61ef5c7cf5e67"}},
		{"2026-02-11", "AKSUbuntu/gen2/2404containerd", "202602.10.0", want{tracker.OS{Name: "Ubuntu", Version: ptr("24.04.3 LTS (Noble Numbat)"), ID: "ubuntu", IDLike: "debian", VersionID: "24.04", PrettyName: "Ubuntu 24.04.3 LTS"}, "6.8.0-1044-azure", "2026-02-10T22:31:52Z", "20260210.3_main_152666373", "a9a2e97d21845ce972af7146047c59a628d89947"}},
		// BOM, CRLF, System Info instead of os-release, no kernel, build date from the build number.
		{"", "AKSWindows/2025-gen2", "26100.7171.251116", want{tracker.OS{Name: "Windows Server 2025 Datacenter", Version: ptr("26100.7171")}, "", "2025-11-16T00:00:00Z", "Release_20251116.1_v20251117_143893522", "101859ff353bc85934e3d8727d750723ed1128fc"}},
		// ID_LIKE=flatcar, but no Flatcar release.
		{"", "AKSAzureContainerLinux/gen2tl", "202605.05.1", want{tracker.OS{Name: "Microsoft Azure Container Linux", Version: ptr("3.0.20260401"), ID: "azurelinux", IDLike: "flatcar", VersionID: "3.0.20260401", PrettyName: "Microsoft Azure Container Linux 3.0.20260401"}, "6.6.130.1-3.azl3", "2026-05-05T18:52:01Z", "20260505.2_main_162992856", "06b12c759e2b59f8670931496f6bf3e1e3edd99f"}},
		// No os-release block: only "Ubuntu version: 22.04" names the OS.
		{"", "AKSUbuntu/gen2/2204containerd", "2023.01.10", want{tracker.OS{Name: "Ubuntu", VersionID: "22.04"}, "5.15.0-1030-azure", "2023-01-10T00:52:39Z", "20230110.1_master_66910241", "fdca7c562b04ee09e8e846cfdaad813cfa8f9af6"}},
	}
	for _, tt := range tests {
		t.Run(tt.world+"/"+tt.family+"/"+tt.version, func(t *testing.T) {
			got, err := vhdnotes.Parse(readNote(t, tt.world, tt.family, tt.version))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.OS, tt.want.os) {
				t.Errorf("OS = %s, want %s", showOS(got.OS), showOS(tt.want.os))
			}
			if got.Kernel != tt.want.kernel {
				t.Errorf("Kernel = %q, want %q", got.Kernel, tt.want.kernel)
			}
			if bt := got.BuildTime.Format(time.RFC3339); bt != tt.want.buildTime || got.BuildTime.Location() != time.UTC {
				t.Errorf("BuildTime = %s (%s), want %s UTC", bt, got.BuildTime.Location(), tt.want.buildTime)
			}
			if got.BuildID != tt.want.buildID {
				t.Errorf("BuildID = %q, want %q", got.BuildID, tt.want.buildID)
			}
			if got.Commit != tt.want.commit {
				t.Errorf("Commit = %q, want %q", got.Commit, tt.want.commit)
			}
		})
	}
}

func TestParseComponents(t *testing.T) {
	tests := []struct {
		world, family, version string
		want                   map[string][]string
		absent                 []string
	}{
		{
			"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202605.27.0",
			map[string][]string{
				"containerd": {"2.1.7-ubuntu24.04u2"},
				"runc":       {"1.4.1-ubuntu24.04u1", "1.4.1-1"},
				"kubelet":    {"1.34.7-ubuntu24.04u1", "1.34.6-ubuntu24.04u1", "1.35.4-ubuntu24.04u1"},
				"azure cni":  {"1.5.38", "1.6.21"},
				"bpftrace":   {"v0.9.4"},
			},
			// nvidia-grid-driver is in the CSE list, installed at provisioning, not in the VHD.
			[]string{"cached kubelet binary at /opt/bin/kubelet-1.34.7", "cached", "nvidia-grid-driver"},
		},
		{
			"2026-05-31", "AKSFlatcar/gen2", "202605.27.0",
			map[string][]string{
				"runc":    {"1.4.0"},
				"kubelet": {"v1.31.14-1-azlinux3", "v1.32.11-1-azlinux3", "v1.33.11-1-azlinux3", "v1.34.7-1-azlinux3", "v1.35.4-1-azlinux3"},
			},
			// Flatcar ships containerd in the OS; this note lists none, and the
			// images pre-pulled list names no component.
			[]string{"containerd", "bcc-tools", "libbcc-examples"},
		},
		{
			"2026-05-31", "AKSAzureLinuxV3/gen2", "202501.05.0",
			map[string][]string{
				"containerd":            {"1.7.13-3.azl3"},
				"containerd-wasm-shims": {"0.3.0", "0.5.1", "0.8.0"},
				"runc":                  {"1.1.12"},
			},
			nil,
		},
		{
			// Lists "runc version unknown" after the real one.
			"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202510.29.0",
			map[string][]string{
				"runc":       {"1.2.7-ubuntu24.04u1"},
				"containerd": {"2.1.4-ubuntu24.04u1"},
				"kubelet":    {"1.34.1-ubuntu24.04u4", "1.34.1-ubuntu24.04u3"},
			},
			nil,
		},
		{
			// The older list: bare package names, `[installed]`, `[cached]`, `name=version`,
			// `{{GPUDriverVersion}}` placeholders, and CNI versions after the images.
			"", "AKSUbuntu/gen2/2204containerd", "2023.01.10",
			map[string][]string{
				"containerd":        {"v1.6.15-1"},
				"runc":              {"1.0.3"},
				"crictl":            {"1.25.0"},
				"krustlet":          {"v0.3.0"},
				"blobfuse":          {"1.4.4"},
				"nvidia-docker2":    {"2.8.0-1"},
				"azure cni":         {"1.4.32", "1.4.35"},
				"azure swift cni":   {"1.4.32", "1.4.35"},
				"azure overlay cni": {"1.4.32", "1.4.35"},
				"cni plugin":        {"1.1.1"},
			},
			[]string{"apt-transport-https", "pigz", "pigz socat", "bpftrace", "bcc-tools", "nvidia-gpu-driver-version", "nvidia-fabricmanager", "[installed] containerd"},
		},
		{
			"", "AKSWindows/2025-gen2", "26100.7171.251116",
			map[string][]string{"containerd": {"v2.0.4+azure"}},
			nil,
		},
	}
	for _, tt := range tests {
		t.Run(tt.world+"/"+tt.family+"/"+tt.version, func(t *testing.T) {
			got, err := vhdnotes.Parse(readNote(t, tt.world, tt.family, tt.version))
			if err != nil {
				t.Fatal(err)
			}
			for name, want := range tt.want {
				if !slices.Equal(got.Components[name], want) {
					t.Errorf("Components[%q] = %q, want %q", name, got.Components[name], want)
				}
			}
			for _, name := range tt.absent {
				if v, ok := got.Components[name]; ok {
					t.Errorf("Components[%q] = %q, want none", name, v)
				}
			}
		})
	}
}

// TestParseSkipsCached checks that a `[cached]` item is skipped however it names its
// version: the 2023 note's `[cached] runc 1.0.0-rc92` written as `[cached] runc version ...`.
func TestParseSkipsCached(t *testing.T) {
	data := readNote(t, "", "AKSUbuntu/gen2/2204containerd", "2023.01.10")
	data = bytes.ReplaceAll(data, []byte("  - [cached] runc "), []byte("  - [cached] runc version "))
	got, err := vhdnotes.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"1.0.3"}; !slices.Equal(got.Components["runc"], want) {
		t.Errorf("Components[runc] = %q, want %q", got.Components["runc"], want)
	}
	for name := range got.Components {
		if strings.Contains(name, "cached") {
			t.Errorf("Components has %q", name)
		}
	}
}

// TestParseEveryNote reads every image note of every snapshot: each must parse, and a
// current Linux note says everything the contract asks of it.
func TestParseEveryNote(t *testing.T) {
	count := 0
	for _, world := range worlds {
		for family, names := range worldNotes(t, world) {
			for _, name := range names {
				count++
				data, err := os.ReadFile(filepath.Join(notesDir(t, world), family, name))
				if err != nil {
					t.Fatal(err)
				}
				n, err := vhdnotes.Parse(data)
				if err != nil {
					t.Errorf("%s %s/%s: %v", world, family, name, err)
					continue
				}
				var missing []string
				if n.OS.Name == "" || n.OS.ID == "" || n.OS.Version == nil {
					missing = append(missing, "os")
				}
				if n.Kernel == "" || strings.ContainsAny(n.Kernel, " ()") {
					missing = append(missing, "kernel "+n.Kernel)
				}
				if n.BuildTime.IsZero() || n.BuildID == "" || len(n.Commit) != 40 {
					missing = append(missing, "build")
				}
				if len(n.Components["runc"]) == 0 {
					missing = append(missing, "runc")
				}
				if !strings.HasPrefix(family, "AKSFlatcar/") && len(n.Components["containerd"]) == 0 {
					missing = append(missing, "containerd")
				}
				if missing != nil {
					t.Errorf("%s %s/%s: missing or wrong %q in %+v", world, family, name, missing, n)
				}
			}
		}
	}
	if count < 300 {
		t.Errorf("read %d notes; the snapshots hold over 300", count)
	}
}

// TestParseLineEnds checks that a note reads the same with CRLF line ends, and the
// Windows note the same without its BOM and CRs.
func TestParseLineEnds(t *testing.T) {
	tests := []struct {
		world, family, version string
		rewrite                func([]byte) []byte
	}{
		{"2026-05-31", "AKSFlatcar/gen2", "202605.27.0", toCRLF},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202605.27.0", toCRLF},
		{"", "AKSUbuntu/gen2/2204containerd", "2023.01.10", toCRLF},
		{"", "AKSWindows/2025-gen2", "26100.7171.251116", func(b []byte) []byte {
			return bytes.ReplaceAll(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf")), []byte("\r\n"), []byte("\n"))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.world+"/"+tt.family+"/"+tt.version, func(t *testing.T) {
			data := readNote(t, tt.world, tt.family, tt.version)
			want, err := vhdnotes.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			got, err := vhdnotes.Parse(tt.rewrite(data))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("rewritten note parses as\n%+v\nwant\n%+v", got, want)
			}
		})
	}
}

func toCRLF(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

func TestParseRejects(t *testing.T) {
	flatcar := readNote(t, "2026-05-31", "AKSFlatcar/gen2", "202605.27.0")
	ubuntu := readNote(t, "2026-05-31", "AKSUbuntu/gen2/2404containerd", "202605.27.0")
	imageList, err := os.ReadFile(filepath.Join(notesDir(t, "2026-05-31"), "AKSFlatcar/gen2/latest-image-list.json"))
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	if _, err := w.Write(flatcar); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		data    []byte
		wantErr string
	}{
		{"empty", nil, "empty"},
		{"blank lines", []byte("\n\r\n  \n"), "empty"},
		{"byte order mark only", []byte("\xef\xbb\xbf"), "empty"},
		{"NUL byte in a real note", slices.Concat(flatcar[:100], []byte{0}, flatcar[100:]), "NUL byte at offset 100"},
		{"gzipped note", gz.Bytes(), "NUL"},
		{"image list instead of a note", imageList, "no line of a Linux or Windows VHD note"},
		{"HTML error page", []byte("<!DOCTYPE html>\n<html><body>Not Found</body></html>\n"), "no line of a Linux or Windows VHD note"},
		// What upstream's raw URL serves for AKSWindows/2019-containerd/17763.1879.210414.txt.
		{"Git LFS pointer", []byte("version https://git-lfs.github.com/spec/v1\noid sha256:535c68067e0338a6d3424f485e82a169b2e49ab5e47709e68e33504422a9510c\nsize 18987\n"), "Git LFS pointer"},
		{"cut inside os-release", cutAfter(t, flatcar, "ID=\"flatcar\"\n"), "os-release block has no end: truncated note?"},
		{"cut after os-release Begin", cutAfter(t, flatcar, "=== os-release Begin"), "os-release block has no end"},
		{"cut after Using kernel", cutAfter(t, flatcar, "Using kernel:\n"), `nothing after "Using kernel:": truncated note?`},
		{"Using kernel then blank lines", slices.Concat(cutAfter(t, ubuntu, "Using kernel:\n"), []byte("\n\n")), `nothing after "Using kernel:"`},
		{"cut inside installed packages", cutAfter(t, ubuntu, "adduser/noble,now"), "Installed Packages block has no end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := vhdnotes.Parse(tt.data)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Parse() error = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

// TestParseCutBeforeKernel checks that a note cut where nothing shows it yields what it
// has and no invented kernel or OS version.
func TestParseCutBeforeKernel(t *testing.T) {
	flatcar := readNote(t, "2026-05-31", "AKSFlatcar/gen2", "202605.27.0")
	got, err := vhdnotes.Parse(cutAfter(t, flatcar, "  - runc version 1.4.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got.Kernel != "" || got.OS != (tracker.OS{}) || got.Commit != "" {
		t.Errorf("Parse(cut note) = %+v, want no kernel, OS or commit", got)
	}
	if want := []string{"1.4.0"}; !slices.Equal(got.Components["runc"], want) {
		t.Errorf("Components[runc] = %q, want %q", got.Components["runc"], want)
	}
}

func cutAfter(t *testing.T, data []byte, marker string) []byte {
	t.Helper()
	i := bytes.Index(data, []byte(marker))
	if i < 0 {
		t.Fatalf("note has no %q", marker)
	}
	return slices.Clone(data[:i+len(marker)])
}

func TestImageFileVersion(t *testing.T) {
	t.Run("fixture directories", func(t *testing.T) {
		for _, world := range worlds {
			root := notesDir(t, world)
			notes := worldNotes(t, world)
			err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				family, name := filepath.Split(path)
				family, _ = filepath.Rel(root, family)
				images, ok := notes[filepath.ToSlash(family)]
				if !ok {
					t.Errorf("%s: %s is in no family of world.json", world, path)
					return nil
				}
				version, isImage := vhdnotes.ImageFileVersion(name)
				wantImage := slices.Contains(images, name)
				switch {
				case isImage != wantImage:
					t.Errorf("%s: ImageFileVersion(%q) = %t, want %t", world, name, isImage, wantImage)
				case isImage && version+".txt" != name:
					t.Errorf("%s: ImageFileVersion(%q) = %q", world, name, version)
				case !isImage && version != "":
					t.Errorf("%s: ImageFileVersion(%q) = %q for no image", world, name, version)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	})
	tests := []struct {
		name string
		want string // "" for no image
	}{
		{"202605.27.0.txt", "202605.27.0"},
		{"202605.05.10.txt", "202605.05.10"},
		{"2023.01.10.txt", "2023.01.10"},
		{"26100.7171.251116.txt", "26100.7171.251116"},
		{"17763.6659.241218.txt", "17763.6659.241218"},
		// Seen upstream, none of them an image.
		{"20230501.0.txt", ""},
		{"20230504.0.txt", ""},
		{"000000.11.5.txt", ""},
		{"00000.11.2223.txt", ""},
		{"123456.11.0.txt", ""},
		{"latest.txt", ""},
		{"latest-image-list.json", ""},
		{"202605.27.0-image-list.json", ""},
		{"202304.24.0-trivy-table.txt", ""},
		{"202306.01.0-trivy-images-table.txt", ""},
		{"202304.24.0-trivy-report.json", ""},
		{"README.md", ""},
		// Not plausible versions.
		{"202613.01.0.txt", ""},
		{"202602.30.0.txt", ""},
		{"202605.27.0.TXT", ""},
		{"202605.27.0.txt.bak", ""},
		{"202605.27.txt", ""},
		{".txt", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := vhdnotes.ImageFileVersion(tt.name)
			if got != tt.want || ok != (tt.want != "") {
				t.Errorf("ImageFileVersion(%q) = %q, %t; want %q, %t", tt.name, got, ok, tt.want, tt.want != "")
			}
		})
	}
}

func TestParseImageList(t *testing.T) {
	skus := map[string]string{
		"AKSFlatcar/gen2":               "flatcargen2",
		"AKSFlatcar/gen2arm64":          "flatcargen2arm64",
		"AKSAzureLinuxV3/gen2":          "V3gen2",
		"AKSUbuntu/gen2/2404containerd": "2404gen2containerd",
	}
	// Upstream's list beside 202503.02.0.txt names another version: the list is taken as
	// it is, so whoever uses it must not trust the version over the file name.
	misnamed := map[string]string{"AKSUbuntu/gen2/2404containerd/202503.02.0-image-list.json": "202503.03.0"}
	count := 0
	for _, world := range worlds {
		notes := worldNotes(t, world)
		for family, sku := range skus {
			dir := filepath.Join(notesDir(t, world), family)
			lists, err := filepath.Glob(filepath.Join(dir, "*-image-list.json"))
			if err != nil {
				t.Fatal(err)
			}
			for _, path := range lists {
				count++
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				gotSKU, gotVersion, err := vhdnotes.ParseImageList(data)
				if err != nil {
					t.Errorf("%s: %v", path, err)
					continue
				}
				// latest-image-list.json is the list of the newest image.
				wantVersion := strings.TrimSuffix(filepath.Base(path), "-image-list.json")
				if wantVersion == "latest" {
					images := notes[family]
					wantVersion = strings.TrimSuffix(images[len(images)-1], ".txt")
				}
				if v, ok := misnamed[family+"/"+filepath.Base(path)]; ok {
					wantVersion = v
				}
				if gotSKU != sku || gotVersion != wantVersion {
					t.Errorf("%s: ParseImageList() = %q, %q; want %q, %q", path, gotSKU, gotVersion, sku, wantVersion)
				}
			}
		}
	}
	if count < 300 {
		t.Errorf("read %d image lists; the snapshots hold over 300", count)
	}

	bad := []struct {
		name, data, wantErr string
	}{
		{"empty", "", "image list"},
		{"a note", "Starting build on  Wed May 27 14:35:24 UTC 2026\n", "image list"},
		{"no sku", `{"imageVersion": "202605.27.0", "imageBom": []}`, `no "sku"`},
		{"no version", `{"sku": "flatcargen2"}`, `no "imageVersion"`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := vhdnotes.ParseImageList([]byte(tt.data))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseImageList() error = %v, want one saying %q", err, tt.wantErr)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, n := range []struct{ world, family, version string }{
		{"2026-05-31", "AKSFlatcar/gen2", "202605.27.0"},
		{"2026-05-31", "AKSFlatcar/gen2", "202601.27.0"},
		{"2026-05-31", "AKSAzureLinuxV3/gen2", "202501.05.0"},
		{"2026-05-31", "AKSUbuntu/gen2/2404containerd", "202510.29.0"},
		{"", "AKSWindows/2025-gen2", "26100.7171.251116"},
		{"", "AKSAzureContainerLinux/gen2tl", "202605.05.1"},
		{"", "AKSUbuntu/gen2/2204containerd", "2023.01.10"},
	} {
		data := readNote(f, n.world, n.family, n.version)
		f.Add(data)
		f.Add(data[:len(data)/2])
	}
	f.Add([]byte("=== os-release Begin\n=== os-release End\nUsing kernel:\nLinux version \n"))
	f.Add([]byte("Components downloaded:\n  - x version\n  - =1\n  - a \n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		n, err := vhdnotes.Parse(data)
		if err != nil {
			return
		}
		if strings.ContainsAny(n.Kernel, " \n") {
			t.Errorf("Kernel %q has a space or line end", n.Kernel)
		}
		for name, versions := range n.Components {
			if name == "" || len(versions) == 0 {
				t.Errorf("Components[%q] = %q", name, versions)
			}
		}
	})
}

func BenchmarkParse(b *testing.B) {
	const world = "2026-05-31"
	var notes [][]byte
	var size int64
	for family, names := range worldNotes(b, world) {
		for _, name := range names {
			data, err := os.ReadFile(filepath.Join(notesDir(b, world), family, name))
			if err != nil {
				b.Fatal(err)
			}
			notes = append(notes, data)
			size += int64(len(data))
		}
	}
	b.SetBytes(size)
	for b.Loop() {
		for _, data := range notes {
			if _, err := vhdnotes.Parse(data); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func notesDir(t testing.TB, world string) string {
	return filepath.Join(trackertest.Fixtures(t), "world-"+world, "github", "Azure", "AgentBaker", "vhdbuilder", "release-notes")
}

// worldNotes returns the image notes each family directory of a snapshot holds, as its
// world.json lists them, oldest first.
func worldNotes(t testing.TB, world string) map[string][]string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(trackertest.Fixtures(t), "world-"+world, "world.json"))
	if err != nil {
		t.Fatal(err)
	}
	var w struct {
		Notes map[string][]string `json:"notes"`
	}
	if err := json.Unmarshal(data, &w); err != nil {
		t.Fatalf("world %s: %v", world, err)
	}
	if len(w.Notes) == 0 {
		t.Fatalf("world %s: world.json lists no notes", world)
	}
	return w.Notes
}

// readNote reads a note of a snapshot, or with world "" the sample of samples/ named
// after its upstream path.
func readNote(t testing.TB, world, family, version string) []byte {
	t.Helper()
	path := filepath.Join(notesDir(t, world), family, version+".txt")
	if world == "" {
		path = filepath.Join(trackertest.Fixtures(t), "samples", strings.ReplaceAll(family, "/", "_")+"_"+version+".txt")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func ptr(s string) *string { return &s }

// showOS prints an OS with its version rather than the version's address.
func showOS(o tracker.OS) string {
	version := "<nil>"
	if o.Version != nil {
		version = strconv.Quote(*o.Version)
	}
	return fmt.Sprintf("{Name:%q Version:%s ID:%q IDLike:%q VersionID:%q PrettyName:%q}",
		o.Name, version, o.ID, o.IDLike, o.VersionID, o.PrettyName)
}
