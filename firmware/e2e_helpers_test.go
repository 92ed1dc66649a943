package firmware_test

import "os"

func writeFile(path string, b []byte) error {
	if err := os.Chmod(path, 0o600); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o600)
}
