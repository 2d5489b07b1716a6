-- The seed recipe "Feishu/WeChat sign-in with Supabase" (its SQL, verbatim): a public
-- user_identities table filled by a trigger named on_auth_user_created. Run as it
-- stands, next to auth_ext, by the PostgREST tier.
CREATE TABLE public.user_identities (
  id              UUID PRIMARY KEY REFERENCES auth.users(id) ON DELETE CASCADE,
  oauth_provider  TEXT,            -- 'feishu', 'wechat', 'google' 等,非 OAuth 用戶為 NULL
  oauth_open_id   TEXT,            -- 該平台下的用戶唯一標識,非 OAuth 用戶為 NULL
  raw_metadata    JSONB DEFAULT '{}'::jsonb,  -- 保留各平台原始欄位
  created_at      TIMESTAMPTZ DEFAULT now(),
  updated_at      TIMESTAMPTZ DEFAULT now()
);

CREATE UNIQUE INDEX unique_oauth_identity
  ON public.user_identities(oauth_provider, oauth_open_id)
  WHERE oauth_provider IS NOT NULL AND oauth_open_id IS NOT NULL;

ALTER TABLE public.user_identities ENABLE ROW LEVEL SECURITY;

-- 用戶只能讀自己的 identity
CREATE POLICY "Users can view own identity"
  ON public.user_identities FOR SELECT
  USING (auth.uid() = id);

-- 用戶只能改自己的 identity
CREATE POLICY "Users can update own identity"
  ON public.user_identities FOR UPDATE
  USING (auth.uid() = id);

CREATE OR REPLACE FUNCTION public.handle_new_user()
RETURNS TRIGGER
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = public
AS $$
DECLARE
  provider TEXT := NEW.raw_user_meta_data->>'oauth_provider';
  open_id  TEXT := NEW.raw_user_meta_data->>'oauth_open_id';
BEGIN
  INSERT INTO public.user_identities (id, oauth_provider, oauth_open_id, raw_metadata)
  VALUES (
    NEW.id,
    provider,    -- OAuth 用戶有值,非 OAuth 用戶為 NULL
    open_id,     -- OAuth 用戶有值,非 OAuth 用戶為 NULL
    COALESCE(NEW.raw_user_meta_data, '{}'::jsonb)
  );
  RETURN NEW;
END;
$$;

CREATE TRIGGER on_auth_user_created
  AFTER INSERT ON auth.users
  FOR EACH ROW
  EXECUTE FUNCTION public.handle_new_user();
