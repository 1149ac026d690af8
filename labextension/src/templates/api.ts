/** Submarine's experiment templates: list, read, and submit one with parameters. */
import { Result, SubmarineClient, TemplateParam } from '../api';
import type { components } from '../schema';

type TemplateSubmit = components['schemas']['TemplateSubmit'];

export function listTemplates(
  client: SubmarineClient
): Promise<Result<'listTemplates'>> {
  return client.call('template');
}

export function getTemplate(
  client: SubmarineClient,
  name: string
): Promise<Result<'getTemplate'>> {
  return client.call(`template/${encodeURIComponent(name)}`);
}

/** `POST /api/v1/experiment/{templateName}`: a new experiment from the template. */
export function submitTemplate(
  client: SubmarineClient,
  name: string,
  params: Record<string, string>
): Promise<Result<'submitTemplate'>> {
  const body: TemplateSubmit = { params };
  return client.call(`experiment/${encodeURIComponent(name)}`, {
    method: 'POST',
    body: JSON.stringify(body)
  });
}

/** Whether a submission must give it (`true`, or Submarine's `"true"`). */
export function isRequired(param: TemplateParam): boolean {
  const { required } = param;
  return required === true || String(required).toLowerCase() === 'true';
}

/** Its default, as the text a submission would send. */
export function defaultOf(param: TemplateParam): string {
  const { value } = param;
  return value === null || value === undefined ? '' : String(value);
}

/** One Submarine adds per role: `spec.<Role>.replicas`, `spec.<Role>.resourceMap.cpu|memory`. */
export function isRoleParam(param: TemplateParam): boolean {
  return /^spec\.[^.]+\.(?:replicas|resourceMap\.(?:cpu|memory))$/.test(
    param.name
  );
}
