/**
 * Typed models for the two kinds that kubernetes-models does not ship: OpenShift's
 * SecurityContextConstraints (security.openshift.io/v1) and Multus' NetworkAttachmentDefinition
 * (k8s.cni.cncf.io/v1). They are built like the library's own models (a `Model` subclass with
 * `.validate()`, like the library's `setValidateFunc`), validated by ajv against the openAPIV3Schema of the
 * upstream CRDs, with `metadata` checked by the library's own ObjectMeta validator. The NAD's
 * validation also parses its CNI config as JSON and checks the fields a CNI plugin requires.
 */
import { Model, type ModelData } from '@kubernetes-models/base';
import type { ValidateFunc } from '@kubernetes-models/validate';
import type { IObjectMeta } from '@kubernetes-models/apimachinery/apis/meta/v1/ObjectMeta';
import { validate as validateObjectMeta } from '@kubernetes-models/apimachinery/_schemas/IoK8sApimachineryPkgApisMetaV1ObjectMeta';
import { Ajv, type ErrorObject, type SchemaObject } from 'ajv';

const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addFormat('int32', { type: 'number', validate: (n: number) => Number.isInteger(n) && n >= -(2 ** 31) && n < 2 ** 31 });
ajv.addFormat('int64', { type: 'number', validate: (n: number) => Number.isSafeInteger(n) });

type MetaValidate = ((data: unknown) => boolean) & { errors?: ErrorObject[] | null };

/** Compiles `schema` (metadata excluded) and checks metadata with the library's ObjectMeta validator. */
function makeValidator<T>(schema: SchemaObject, extra?: (data: T) => ErrorObject[]): ValidateFunc<T> {
  const compiled = ajv.compile(schema);
  const fn = ((input: unknown): input is T => {
    // validate the plain JSON form: a Model's prototype carries an enumerable `validate`
    const data = JSON.parse(JSON.stringify(input ?? null)) as unknown;
    let errors: ErrorObject[] = [];
    if (!compiled(data)) errors = errors.concat(compiled.errors ?? []);
    const meta = (data as { metadata?: unknown } | null)?.metadata;
    const vm = validateObjectMeta as MetaValidate;
    if (meta !== undefined && !vm(meta)) {
      errors = errors.concat((vm.errors ?? []).map((e) => ({ ...e, instancePath: `/metadata${e.instancePath}` })));
    }
    if (errors.length === 0 && extra) errors = extra(data as T);
    fn.errors = errors.length ? errors : null;
    return errors.length === 0;
  }) as ValidateFunc<T>;
  return fn;
}

/**
 * Gives a model class its `.validate()` (as the library's `setValidateFunc` does): throws an Error
 * listing every problem as `data<path> <message>` (the library's format), with `.errors` attached.
 */
function setValidator<T>(ctor: { prototype: object }, fn: ValidateFunc<T>): void {
  Object.defineProperty(ctor.prototype, 'validate', {
    enumerable: false,
    value(this: unknown) {
      if (!fn(this)) {
        const errors = fn.errors ?? [];
        const err = new Error(errors.map((e) => `data${e.instancePath} ${e.message ?? e.keyword}`).join(', '));
        (err as Error & { errors: ErrorObject[] }).errors = errors;
        throw err;
      }
    },
  });
}

const nullableStrings = { type: 'array', nullable: true, items: { type: 'string' } } as const;
const idRange = {
  type: 'object',
  properties: { max: { type: 'integer', format: 'int64' }, min: { type: 'integer', format: 'int64' } },
  additionalProperties: false,
} as const;

// ---- SecurityContextConstraints -------------------------------------------------------------

export type SccStrategy = 'MustRunAs' | 'MustRunAsRange' | 'MustRunAsNonRoot' | 'RunAsAny';

export interface IIDRange {
  min?: number;
  max?: number;
}

export interface ISecurityContextConstraints {
  apiVersion: 'security.openshift.io/v1';
  kind: 'SecurityContextConstraints';
  metadata: IObjectMeta;
  allowHostDirVolumePlugin: boolean;
  allowHostIPC: boolean;
  allowHostNetwork: boolean;
  allowHostPID: boolean;
  allowHostPorts: boolean;
  allowPrivilegeEscalation?: boolean | null;
  allowPrivilegedContainer: boolean;
  allowedCapabilities: string[] | null;
  allowedFlexVolumes?: { driver: string }[] | null;
  allowedUnsafeSysctls?: string[] | null;
  defaultAddCapabilities: string[] | null;
  defaultAllowPrivilegeEscalation?: boolean | null;
  forbiddenSysctls?: string[] | null;
  fsGroup?: { type?: SccStrategy; ranges?: IIDRange[] } | null;
  groups?: string[] | null;
  priority: number | null;
  readOnlyRootFilesystem: boolean;
  requiredDropCapabilities: string[] | null;
  runAsUser?: { type?: SccStrategy; uid?: number; uidRangeMin?: number; uidRangeMax?: number } | null;
  seLinuxContext?: { type?: SccStrategy; seLinuxOptions?: { level?: string; role?: string; type?: string; user?: string } } | null;
  seccompProfiles?: string[] | null;
  supplementalGroups?: { type?: SccStrategy; ranges?: IIDRange[] } | null;
  users?: string[] | null;
  volumes: string[] | null;
}

/** openAPIV3Schema of securitycontextconstraints.security.openshift.io v1 (openshift/api), plus the enums the API server enforces. */
const strategy = { type: 'string', enum: ['MustRunAs', 'MustRunAsRange', 'MustRunAsNonRoot', 'RunAsAny'] } as const;
const FS_TYPES = [
  'azureFile', 'azureDisk', 'flocker', 'flexVolume', 'hostPath', 'emptyDir', 'gcePersistentDisk', 'awsElasticBlockStore',
  'gitRepo', 'secret', 'nfs', 'iscsi', 'glusterfs', 'persistentVolumeClaim', 'rbd', 'cinder', 'cephFS', 'downwardAPI',
  'fc', 'configMap', 'vsphere', 'quobyte', 'photonPersistentDisk', 'projected', 'portworxVolume', 'scaleIO',
  'storageos', 'csi', 'ephemeral', 'image', '*', 'none',
];
const sccSchema: SchemaObject = {
  type: 'object',
  required: [
    'apiVersion', 'kind', 'metadata', 'allowHostDirVolumePlugin', 'allowHostIPC', 'allowHostNetwork', 'allowHostPID',
    'allowHostPorts', 'allowPrivilegedContainer', 'allowedCapabilities', 'defaultAddCapabilities', 'priority',
    'readOnlyRootFilesystem', 'requiredDropCapabilities', 'volumes',
  ],
  additionalProperties: false,
  properties: {
    apiVersion: { type: 'string', enum: ['security.openshift.io/v1'] },
    kind: { type: 'string', enum: ['SecurityContextConstraints'] },
    metadata: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
    allowHostDirVolumePlugin: { type: 'boolean' },
    allowHostIPC: { type: 'boolean' },
    allowHostNetwork: { type: 'boolean' },
    allowHostPID: { type: 'boolean' },
    allowHostPorts: { type: 'boolean' },
    allowPrivilegeEscalation: { type: 'boolean', nullable: true },
    allowPrivilegedContainer: { type: 'boolean' },
    allowedCapabilities: nullableStrings,
    allowedFlexVolumes: {
      type: 'array', nullable: true,
      items: { type: 'object', required: ['driver'], properties: { driver: { type: 'string' } }, additionalProperties: false },
    },
    allowedUnsafeSysctls: nullableStrings,
    defaultAddCapabilities: nullableStrings,
    defaultAllowPrivilegeEscalation: { type: 'boolean', nullable: true },
    forbiddenSysctls: nullableStrings,
    fsGroup: {
      type: 'object', nullable: true, additionalProperties: false,
      properties: { ranges: { type: 'array', items: idRange }, type: strategy },
    },
    groups: nullableStrings,
    priority: { type: 'integer', format: 'int32', nullable: true },
    readOnlyRootFilesystem: { type: 'boolean' },
    requiredDropCapabilities: nullableStrings,
    runAsUser: {
      type: 'object', nullable: true, additionalProperties: false,
      properties: {
        type: strategy,
        uid: { type: 'integer', format: 'int64' },
        uidRangeMax: { type: 'integer', format: 'int64' },
        uidRangeMin: { type: 'integer', format: 'int64' },
      },
    },
    seLinuxContext: {
      type: 'object', nullable: true, additionalProperties: false,
      properties: {
        seLinuxOptions: {
          type: 'object', additionalProperties: false,
          properties: { level: { type: 'string' }, role: { type: 'string' }, type: { type: 'string' }, user: { type: 'string' } },
        },
        type: strategy,
      },
    },
    seccompProfiles: nullableStrings,
    supplementalGroups: {
      type: 'object', nullable: true, additionalProperties: false,
      properties: { ranges: { type: 'array', items: idRange }, type: strategy },
    },
    users: nullableStrings,
    volumes: { type: 'array', nullable: true, items: { type: 'string', enum: FS_TYPES } },
  },
};

/** The API server also refuses a capability both allowed (or default-added) and required-dropped. */
function sccSemantics(scc: ISecurityContextConstraints): ErrorObject[] {
  const drop = new Set(scc.requiredDropCapabilities ?? []);
  const errors: ErrorObject[] = [];
  for (const field of ['allowedCapabilities', 'defaultAddCapabilities'] as const) {
    for (const cap of scc[field] ?? []) {
      if (drop.has(cap)) {
        errors.push({
          instancePath: `/${field}`, schemaPath: '#/semantic', keyword: 'semantic', params: { cap },
          message: `capability ${cap} is both in ${field} and requiredDropCapabilities`,
        });
      }
    }
  }
  return errors;
}

export class SecurityContextConstraints extends Model<ISecurityContextConstraints> implements ISecurityContextConstraints {
  static readonly apiVersion = 'security.openshift.io/v1' as const;
  static readonly kind = 'SecurityContextConstraints' as const;
  declare apiVersion: 'security.openshift.io/v1';
  declare kind: 'SecurityContextConstraints';
  declare metadata: IObjectMeta;
  declare allowHostDirVolumePlugin: boolean;
  declare allowHostIPC: boolean;
  declare allowHostNetwork: boolean;
  declare allowHostPID: boolean;
  declare allowHostPorts: boolean;
  declare allowPrivilegeEscalation?: boolean | null;
  declare allowPrivilegedContainer: boolean;
  declare allowedCapabilities: string[] | null;
  declare defaultAddCapabilities: string[] | null;
  declare priority: number | null;
  declare readOnlyRootFilesystem: boolean;
  declare requiredDropCapabilities: string[] | null;
  declare volumes: string[] | null;
  declare fsGroup?: ISecurityContextConstraints['fsGroup'];
  declare runAsUser?: ISecurityContextConstraints['runAsUser'];
  declare seLinuxContext?: ISecurityContextConstraints['seLinuxContext'];
  declare seccompProfiles?: string[] | null;
  declare supplementalGroups?: ISecurityContextConstraints['supplementalGroups'];
  declare users?: string[] | null;
  declare groups?: string[] | null;

  constructor(data: ModelData<ISecurityContextConstraints>) {
    super();
    this.setDefinedProps({ apiVersion: SecurityContextConstraints.apiVersion, kind: SecurityContextConstraints.kind, ...data } as never);
  }
}
setValidator(SecurityContextConstraints, makeValidator<ISecurityContextConstraints>(sccSchema, sccSemantics));

// ---- NetworkAttachmentDefinition ------------------------------------------------------------

/** The macvlan CNI plugin's network configuration (containernetworking/plugins, plugins/main/macvlan). */
export interface MacvlanCniConfig {
  cniVersion: string;
  name: string;
  type: 'macvlan';
  master: string;
  linkInContainer?: boolean;
  mode?: 'bridge' | 'private' | 'vepa' | 'passthru' | 'source';
  mtu?: number;
  ipam?: Record<string, unknown>;
}

/** A CNI configuration list (`plugins`, chained in order), as Multus takes it in a NAD. */
export interface CniConfigList {
  cniVersion: string;
  name: string;
  plugins: ({ type: string } & Record<string, unknown>)[];
}

export interface INetworkAttachmentDefinition {
  apiVersion: 'k8s.cni.cncf.io/v1';
  kind: 'NetworkAttachmentDefinition';
  metadata: IObjectMeta;
  spec: { config?: string };
}

/** openAPIV3Schema of network-attachment-definitions.k8s.cni.cncf.io v1 (Multus). */
const nadSchema: SchemaObject = {
  type: 'object',
  required: ['apiVersion', 'kind', 'metadata'],
  additionalProperties: false,
  properties: {
    apiVersion: { type: 'string', enum: ['k8s.cni.cncf.io/v1'] },
    kind: { type: 'string', enum: ['NetworkAttachmentDefinition'] },
    metadata: { type: 'object', required: ['name'], properties: { name: { type: 'string', minLength: 1 } } },
    spec: { type: 'object', additionalProperties: false, properties: { config: { type: 'string' } } },
  },
};

const CNI_VERSIONS = ['0.1.0', '0.2.0', '0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'];
const MACVLAN_MODES = ['bridge', 'private', 'vepa', 'passthru', 'source'];

/**
 * Parses a NAD's `spec.config` as CNI network configuration JSON and returns the problems found:
 * valid JSON object, a known `cniVersion`, `name` (a valid network name), `type`; for `macvlan`
 * also `master` and a known `mode`.
 */
export function cniConfigProblems(config: string | undefined): string[] {
  if (config === undefined) return ['spec.config is missing (Multus needs the CNI configuration there)'];
  let c: unknown;
  try {
    c = JSON.parse(config);
  } catch (err) {
    return [`spec.config is not JSON: ${(err as Error).message}`];
  }
  if (c === null || typeof c !== 'object' || Array.isArray(c)) return ['spec.config is not a JSON object'];
  const o = c as Record<string, unknown>;
  const p: string[] = [];
  if (typeof o['cniVersion'] !== 'string' || !CNI_VERSIONS.includes(o['cniVersion'])) p.push(`cniVersion ${JSON.stringify(o['cniVersion'])} is not one of ${CNI_VERSIONS.join(', ')}`);
  if (typeof o['name'] !== 'string' || !/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(o['name'])) p.push(`name ${JSON.stringify(o['name'])} is not a valid CNI network name`);
  const plugins = o['plugins'];
  if (plugins === undefined && typeof o['type'] !== 'string') p.push('type (the CNI plugin) is missing');
  const pluginProblems = (q: Record<string, unknown>, where: string) => {
    if (q['type'] === 'macvlan') {
      if (typeof q['master'] !== 'string' || q['master'] === '') p.push(`${where}macvlan needs master (the host interface)`);
      if (q['mode'] !== undefined && !MACVLAN_MODES.includes(String(q['mode']))) p.push(`${where}macvlan mode ${JSON.stringify(q['mode'])} is not one of ${MACVLAN_MODES.join(', ')}`);
      if (q['linkInContainer'] !== undefined && typeof q['linkInContainer'] !== 'boolean') p.push(`${where}linkInContainer must be a boolean`);
    }
    if (q['type'] === 'tuning') {
      for (const flag of ['allmulti', 'promisc']) if (q[flag] !== undefined && typeof q[flag] !== 'boolean') p.push(`${where}tuning ${flag} must be a boolean`);
    }
  };
  if (plugins !== undefined) {
    // a configuration list: the first plugin makes the interface, the others (tuning) adjust it
    if (!Array.isArray(plugins) || plugins.length === 0) p.push('plugins must be a non-empty list of CNI plugin configurations');
    else {
      plugins.forEach((q, i) => {
        if (q === null || typeof q !== 'object' || Array.isArray(q)) p.push(`plugins[${i}] is not a JSON object`);
        else if (typeof (q as Record<string, unknown>)['type'] !== 'string') p.push(`plugins[${i}]: type (the CNI plugin) is missing`);
        else pluginProblems(q as Record<string, unknown>, `plugins[${i}]: `);
      });
    }
  } else pluginProblems(o, '');
  return p;
}

export class NetworkAttachmentDefinition extends Model<INetworkAttachmentDefinition> implements INetworkAttachmentDefinition {
  static readonly apiVersion = 'k8s.cni.cncf.io/v1' as const;
  static readonly kind = 'NetworkAttachmentDefinition' as const;
  declare apiVersion: 'k8s.cni.cncf.io/v1';
  declare kind: 'NetworkAttachmentDefinition';
  declare metadata: IObjectMeta;
  declare spec: { config?: string };

  constructor(data: ModelData<INetworkAttachmentDefinition>) {
    super();
    this.setDefinedProps({ apiVersion: NetworkAttachmentDefinition.apiVersion, kind: NetworkAttachmentDefinition.kind, ...data } as never);
  }
}
setValidator(
  NetworkAttachmentDefinition,
  makeValidator<INetworkAttachmentDefinition>(nadSchema, (nad) =>
    cniConfigProblems(nad.spec?.config).map((message) => ({
      instancePath: '/spec/config', schemaPath: '#/cni', keyword: 'cni', params: {}, message,
    })),
  ),
);
