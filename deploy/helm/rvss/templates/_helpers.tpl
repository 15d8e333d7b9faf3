{{/* Labels every object carries. */}}
{{- define "rvss.labels" -}}
app.kubernetes.io/name: rvss
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{/* Selector of one service's pods: (dict "root" $ "component" "coordinator"). */}}
{{- define "rvss.selector" -}}
app.kubernetes.io/name: rvss
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "rvss.image" -}}
{{- $digest := required "image.digest is required: rvss is deployed by digest (sha256:...)" .Values.image.digest -}}
{{- if not (regexMatch "^sha256:[0-9a-f]{64}$" $digest) -}}
{{- fail (printf "image.digest %q is not sha256:<64 hex digits>" $digest) -}}
{{- end -}}
{{ .Values.image.repository }}@{{ $digest }}
{{- end -}}

{{/*
The four services: name, values key, entry point, whether it reads the filer, which phase KEDA
scales it on (stream and durable consumer as in packages/core/src/wire.ts), grace period.
*/}}
{{- define "rvss.services" -}}
- name: coordinator
  key: coordinator
  main: services/coordinator/dist/main.js
  filer: false
  grpc: true
  grace: 30
- name: share-discovery
  key: shareDiscovery
  main: services/share-discovery/dist/main.js
  filer: true
  filerReadOnly: true
  stream: RVSS_CMD_DISCOVERY
  consumer: share-discovery
  grace: 60
- name: snapshot-executor
  key: snapshotExecutor
  main: services/snapshot-executor/dist/main.js
  filer: true
  filerReadOnly: false
  stream: RVSS_CMD_EXECUTOR
  consumer: snapshot-executor
  grace: 120
- name: auto-recovery-notifier
  key: autoRecoveryNotifier
  main: services/auto-recovery-notifier/dist/main.js
  filer: false
  stream: RVSS_CMD_NOTIFIER
  consumer: auto-recovery-notifier
  grace: 90
{{- end -}}

{{/*
What every process that talks to NATS reads, the services and the provisioning Job alike: the same
settings make and expect the same streams.
*/}}
{{- define "rvss.natsSettings" -}}
NATS_URL: {{ .Values.nats.url | quote }}
RVSS_REPLICAS: {{ .Values.nats.replicas | quote }}
RVSS_LOG_LEVEL: {{ .Values.log.level | quote }}
RVSS_LOG_FORMAT: {{ .Values.log.format | quote }}
{{- if .Values.nats.tls.secret }}
RVSS_NATS_CA: /etc/rvss/nats-tls/ca.crt
{{- if .Values.nats.tls.clientCertificate }}
RVSS_NATS_CERT: /etc/rvss/nats-tls/tls.crt
RVSS_NATS_KEY: /etc/rvss/nats-tls/tls.key
{{- end }}
{{- end }}
{{- end -}}
