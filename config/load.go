package config

// CONTRACT STUB: implemented by the config work.

// Load reads path strictly (unknown keys are errors naming file:line), expands ${VAR} from the
// environment in scalar values, applies defaults and runs Validate. Errors name the file and line.
func Load(path string) (*Config, error) { panic("stub") }

// Parse is Load for bytes already read; name is used in error messages.
func Parse(name string, data []byte) (*Config, error) { panic("stub") }

// Default returns a Config with every default applied (no datasets, no sources).
func Default() *Config { panic("stub") }

// ApplyDefaults fills zero values with defaults (called by Load/Parse).
func (c *Config) ApplyDefaults() { panic("stub") }

// Validate reports every problem at once (errors.Join), each naming the key path.
func (c *Config) Validate() error { panic("stub") }

// FindTable returns the dataset and table for "DATASET/TABLE".
func (c *Config) FindTable(ref string) (*Dataset, *Table, error) { panic("stub") }
