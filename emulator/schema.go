package emulator

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Type names used in the service's contracts, quoted in error messages.
const (
	typeDataset       = "Microsoft.PowerBI.ServiceContracts.Api.Dataset"
	typeTable         = "Microsoft.PowerBI.ServiceContracts.Api.Table"
	typeColumn        = "Microsoft.PowerBI.ServiceContracts.Api.Column"
	typeMeasure       = "Microsoft.PowerBI.ServiceContracts.Api.Measure"
	typeRelationship  = "Microsoft.PowerBI.ServiceContracts.Api.Relationship"
	typeGroupCreation = "Microsoft.PowerBI.ServiceContracts.Api.GroupCreationRequest"
)

// canonicalType returns the canonical name of a dataType (case-insensitive, with the bool
// alias; "string" is the canonical String), or "" when the type is unknown.
func canonicalType(s string) string {
	switch strings.ToLower(s) {
	case "int64":
		return "Int64"
	case "double":
		return "Double"
	case "boolean", "bool":
		return "Boolean"
	case "datetime":
		return "DateTime"
	case "string":
		return "String"
	case "decimal":
		return "Decimal"
	}
	return ""
}

// validTableName applies the swagger pattern of Table.name: 1–100 allowed characters.
func validTableName(s string) bool {
	if s == "" || !utf8.ValidString(s) || utf8.RuneCountInString(s) > 100 {
		return false
	}
	for _, r := range s {
		if !tableNameRune(r) {
			return false
		}
	}
	return true
}

func tableNameRune(r rune) bool {
	switch {
	case r == '\t' || r == '\n' || r == '\r' || r == ' ' || r == '#' || r == '-':
		return true
	case r >= '0' && r <= '9', r >= '@' && r <= 'Z', r == '^' || r == '_', r >= 'a' && r <= 'z':
		return true
	case r == '~':
		return true
	}
	return r > 0x7E && textRune(r)
}

// textRune is the character class of Column.name beyond ASCII controls.
func textRune(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r <= 0xD7FF) ||
		(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// validColumnName applies the swagger pattern of Column.name (any text, at least one character).
func validColumnName(s string) bool {
	if s == "" || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if !textRune(r) {
			return false
		}
	}
	return true
}

// parseTable decodes and validates one Table object.
func parseTable(raw json.RawMessage, maxColumns int) (*table, *apiError) {
	m, err := object(raw, typeTable, "name", "columns", "measures", "rows", "isHidden", "description", "source")
	if err != nil {
		return nil, err
	}
	var name string
	var cols []json.RawMessage
	var measures []json.RawMessage
	if err := firstErr(field(m, typeTable, "name", true, &name), field(m, typeTable, "columns", true, &cols),
		field(m, typeTable, "measures", false, &measures)); err != nil {
		return nil, err
	}
	if !validTableName(name) {
		return nil, badRequest("name", "Table name '%s' is invalid: 1-100 characters, none of !\"$%%&'()*+,./:;<=>?[\\]`{|}.", name)
	}
	if len(cols) == 0 || len(cols) > maxColumns {
		return nil, badRequest(name, "Table '%s' has %d columns; a table needs 1 to %d columns.", name, len(cols), maxColumns)
	}
	columns, err := parseColumns(name, cols)
	if err != nil {
		return nil, err
	}
	if err := checkMeasures(measures); err != nil {
		return nil, err
	}
	return newTable(name, columns), nil
}

func parseColumns(tableName string, raws []json.RawMessage) ([]Column, *apiError) {
	seen := map[string]bool{}
	out := make([]Column, 0, len(raws))
	for _, raw := range raws {
		m, err := object(raw, typeColumn, "name", "dataType", "formatString", "sortByColumn",
			"dataCategory", "isHidden", "summarizeBy")
		if err != nil {
			return nil, err
		}
		var c Column
		if err := firstErr(field(m, typeColumn, "name", true, &c.Name), field(m, typeColumn, "dataType", true, &c.DataType)); err != nil {
			return nil, err
		}
		if !validColumnName(c.Name) {
			return nil, badRequest(tableName, "Column name '%s' in table '%s' is invalid.", c.Name, tableName)
		}
		typ := canonicalType(c.DataType)
		if typ == "" {
			return nil, badRequest(c.Name, "Column '%s' in table '%s' has unknown dataType '%s'.", c.Name, tableName, c.DataType)
		}
		if seen[strings.ToLower(c.Name)] {
			return nil, badRequest(c.Name, "Table '%s' has duplicate column name '%s'.", tableName, c.Name)
		}
		seen[strings.ToLower(c.Name)] = true
		out = append(out, Column{Name: c.Name, DataType: typ})
	}
	return out, nil
}

func checkMeasures(raws []json.RawMessage) *apiError {
	for _, raw := range raws {
		m, err := object(raw, typeMeasure, "name", "expression", "formatString", "description", "isHidden")
		if err != nil {
			return err
		}
		var name, expr string
		if err := firstErr(field(m, typeMeasure, "name", true, &name), field(m, typeMeasure, "expression", true, &expr)); err != nil {
			return err
		}
	}
	return nil
}

func firstErr(errs ...*apiError) *apiError {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
