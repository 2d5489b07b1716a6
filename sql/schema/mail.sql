-- The mail a sender (auth_ext_gateway send) renders: Supabase Auth's templates, per
-- message kind, kept in the database so that every sender renders the same ones and the
-- application's server (service_role) changes them as it changes any setting; a kind
-- without a row gets Supabase Auth's default. Subjects and bodies are Go templates with
-- Supabase's variables ({{ .ConfirmationURL }}, {{ .Token }}, {{ .Data.name }}, ...).
create table auth.email_templates (
    template   text primary key,
    subject    text not null,
    body       text not null,
    updated_at timestamptz not null default now(),
    constraint email_templates_template check (template in
        ('confirmation', 'invite', 'magic_link', 'recovery', 'email_change', 'reauthentication')),
    constraint email_templates_size check (length(subject) <= 1000 and length(body) <= 100000)
);
