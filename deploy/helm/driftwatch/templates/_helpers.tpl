{{- define "driftwatch.labels" -}}
app.kubernetes.io/name: driftwatch
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "driftwatch.selector" -}}
app.kubernetes.io/name: driftwatch
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "driftwatch.fullname" -}}
{{- if eq .Release.Name "driftwatch" -}}driftwatch{{- else -}}{{ printf "%s-driftwatch" .Release.Name | trunc 63 | trimSuffix "-" }}{{- end -}}
{{- end -}}

{{/* driftwatch.toml: the user's config, with [store] and [ha] when ha.enabled. */}}
{{- define "driftwatch.config" -}}
{{- if .Values.ha.enabled -}}
{{- if not .Values.ha.postgres.url -}}
{{- fail "ha.enabled needs ha.postgres.url: the replicas share a PostgreSQL store" -}}
{{- end -}}
store = { url = {{ .Values.ha.postgres.url | quote }}, password_env = "DRIFTWATCH_PG_PASSWORD" }
ha = { election = "kubernetes", lease_duration_secs = {{ int .Values.ha.leaseDurationSecs }}, lease_name = {{ .Values.ha.leaseName | quote }} }
{{ end -}}
{{ .Values.config }}
{{- end -}}
