-- App passwords: what sync apps (Google Reader and Fever clients) sign in with. Only SHA-256
-- of the password and of its Fever key are kept (the edge hashes them); each is unique across
-- all users, so an app's sign-in finds its owner by either hash.
CREATE TABLE app_passwords (
    user_id TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    secret_hash TEXT NOT NULL UNIQUE,
    fever_hash TEXT NOT NULL UNIQUE,
    created INTEGER NOT NULL,
    last_used INTEGER,
    PRIMARY KEY (user_id, id)
) WITHOUT ROWID;

-- The app password an app's session was signed in with (NULL: a browser session): revoking
-- the password ends its sessions.
ALTER TABLE sessions ADD COLUMN app_password TEXT;
CREATE INDEX sessions_by_app_password ON sessions (user_id, app_password)
    WHERE app_password IS NOT NULL;
