// One adapter per MDM (or fleet tool): the files only it needs and its step-by-step guide.
import type { DeploymentContext } from '../context.ts';
import type { GeneratedFile } from '../generated-file.ts';

export interface VendorAdapter {
  /** Folder name under the output and file name under docs/deployment/. */
  id: string;
  title: string;
  files(ctx: DeploymentContext): GeneratedFile[];
  /** Markdown; every value to paste comes from ctx, never typed by the admin. */
  guide(ctx: DeploymentContext): string;
}
