package config

// Cloud holds the endpoints of one Power BI cloud.
type Cloud struct {
	APIBase   string // REST base including /v1.0/myorg
	Scope     string // MSAL scope (resource + "/.default")
	Authority string // Entra ID authority host
}

// Clouds maps powerbi.cloud values to their endpoints (shared/pbi-api.md §5).
var Clouds = map[string]Cloud{
	"public":    {"https://api.powerbi.com/v1.0/myorg", "https://analysis.windows.net/powerbi/api/.default", "https://login.microsoftonline.com"},
	"usgov":     {"https://api.powerbigov.us/v1.0/myorg", "https://analysis.usgovcloudapi.net/powerbi/api/.default", "https://login.microsoftonline.com"},
	"usgovhigh": {"https://api.high.powerbigov.us/v1.0/myorg", "https://high.analysis.usgovcloudapi.net/powerbi/api/.default", "https://login.microsoftonline.us"},
	"usdod":     {"https://api.mil.powerbigov.us/v1.0/myorg", "https://mil.analysis.usgovcloudapi.net/powerbi/api/.default", "https://login.microsoftonline.us"},
	"china":     {"https://api.powerbi.cn/v1.0/myorg", "https://analysis.chinacloudapi.cn/powerbi/api/.default", "https://login.chinacloudapi.cn"},
}
