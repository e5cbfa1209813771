-- chatd schema 3 (release 2cfc1aa) on PostgreSQL, as made by tests/data/make_chatd_v3.py; see tests/data/README.md
--
-- PostgreSQL database dump
--

\restrict kywExQ7SL6qet1knBo3Vz8jKTMG2FcGws4SroaLEM0LABd6OegIBMQPcrlgvn9R

-- Dumped from database version 15.20 (Debian 15.20-0+deb12u1)
-- Dumped by pg_dump version 15.20 (Debian 15.20-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: community; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.community (
    id integer NOT NULL,
    name character varying(64) NOT NULL,
    owner_id integer NOT NULL,
    icon character varying(512) NOT NULL,
    cate integer NOT NULL,
    memo character varying(512) NOT NULL,
    createat bigint NOT NULL
);


--
-- Name: community_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.community_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: community_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.community_id_seq OWNED BY public.community.id;


--
-- Name: contact; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.contact (
    id integer NOT NULL,
    owner_id integer NOT NULL,
    dst_id integer NOT NULL,
    cate integer NOT NULL,
    createat bigint NOT NULL
);


--
-- Name: contact_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.contact_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: contact_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.contact_id_seq OWNED BY public.contact.id;


--
-- Name: media; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.media (
    id integer NOT NULL,
    key character varying(32) NOT NULL,
    user_id integer NOT NULL,
    kind character varying(8) NOT NULL,
    mime character varying(64) NOT NULL,
    path character varying(128) NOT NULL,
    thumb character varying(128) NOT NULL,
    size bigint NOT NULL,
    width integer NOT NULL,
    height integer NOT NULL,
    seconds real NOT NULL,
    waveform text NOT NULL,
    sha256 character varying(64) NOT NULL,
    createat bigint NOT NULL
);


--
-- Name: media_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.media_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: media_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.media_id_seq OWNED BY public.media.id;


--
-- Name: message; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.message (
    id bigint NOT NULL,
    user_id integer NOT NULL,
    cmd smallint NOT NULL,
    dst_id integer NOT NULL,
    media smallint NOT NULL,
    content text NOT NULL,
    pic character varying(512) NOT NULL,
    url character varying(512) NOT NULL,
    memo text NOT NULL,
    amount real NOT NULL,
    cmid character varying(64) NOT NULL,
    createat bigint NOT NULL
);


--
-- Name: message_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.message_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: message_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.message_id_seq OWNED BY public.message.id;


--
-- Name: read_mark; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.read_mark (
    id integer NOT NULL,
    user_id integer NOT NULL,
    cmd smallint NOT NULL,
    dst_id integer NOT NULL,
    read_id bigint NOT NULL,
    updatedat bigint NOT NULL
);


--
-- Name: read_mark_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.read_mark_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: read_mark_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.read_mark_id_seq OWNED BY public.read_mark.id;


--
-- Name: schema_version; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.schema_version (
    id integer NOT NULL,
    version integer NOT NULL
);


--
-- Name: schema_version_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.schema_version_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: schema_version_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.schema_version_id_seq OWNED BY public.schema_version.id;


--
-- Name: token; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.token (
    id integer NOT NULL,
    user_id integer NOT NULL,
    digest character varying(64) NOT NULL,
    createat bigint NOT NULL,
    usedat bigint NOT NULL
);


--
-- Name: token_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.token_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: token_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.token_id_seq OWNED BY public.token.id;


--
-- Name: user; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public."user" (
    id integer NOT NULL,
    mobile character varying(32) NOT NULL,
    passwd character varying(255) NOT NULL,
    nickname character varying(64) NOT NULL,
    avatar character varying(512) NOT NULL,
    sex character varying(1) NOT NULL,
    memo character varying(512) NOT NULL,
    createat bigint NOT NULL
);


--
-- Name: user_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

CREATE SEQUENCE public.user_id_seq
    AS integer
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1;


--
-- Name: user_id_seq; Type: SEQUENCE OWNED BY; Schema: public; Owner: -
--

ALTER SEQUENCE public.user_id_seq OWNED BY public."user".id;


--
-- Name: community id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.community ALTER COLUMN id SET DEFAULT nextval('public.community_id_seq'::regclass);


--
-- Name: contact id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.contact ALTER COLUMN id SET DEFAULT nextval('public.contact_id_seq'::regclass);


--
-- Name: media id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.media ALTER COLUMN id SET DEFAULT nextval('public.media_id_seq'::regclass);


--
-- Name: message id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.message ALTER COLUMN id SET DEFAULT nextval('public.message_id_seq'::regclass);


--
-- Name: read_mark id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.read_mark ALTER COLUMN id SET DEFAULT nextval('public.read_mark_id_seq'::regclass);


--
-- Name: schema_version id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_version ALTER COLUMN id SET DEFAULT nextval('public.schema_version_id_seq'::regclass);


--
-- Name: token id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token ALTER COLUMN id SET DEFAULT nextval('public.token_id_seq'::regclass);


--
-- Name: user id; Type: DEFAULT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."user" ALTER COLUMN id SET DEFAULT nextval('public.user_id_seq'::regclass);


--
-- Data for Name: community; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.community VALUES (1, 'family', 1, '', 0, '', 1796169750067);
INSERT INTO public.community VALUES (2, 'work', 2, '', 0, '', 1796169750078);


--
-- Data for Name: contact; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.contact VALUES (1, 1, 2, 1, 1796169750064);
INSERT INTO public.contact VALUES (2, 2, 1, 1, 1796169750064);
INSERT INTO public.contact VALUES (3, 2, 3, 1, 1796169750065);
INSERT INTO public.contact VALUES (4, 3, 2, 1, 1796169750065);
INSERT INTO public.contact VALUES (5, 1, 1, 2, 1796169750071);
INSERT INTO public.contact VALUES (6, 2, 1, 2, 1796169750074);
INSERT INTO public.contact VALUES (7, 3, 1, 2, 1796169750076);
INSERT INTO public.contact VALUES (8, 2, 2, 2, 1796169750081);
INSERT INTO public.contact VALUES (9, 4, 2, 2, 1796169750083);


--
-- Data for Name: media; Type: TABLE DATA; Schema: public; Owner: -
--



--
-- Data for Name: message; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.message VALUES (1, 1, 10, 2, 1, 'hi bob', '', '', '', 0, 'v3-0', 1780000001000);
INSERT INTO public.message VALUES (2, 2, 10, 1, 1, 'hi alice', '', '', '', 0, 'v3-1', 1780000001001);
INSERT INTO public.message VALUES (3, 1, 11, 1, 1, 'family dinner at 7', '', '', '', 0, 'v3-2', 1780000001002);
INSERT INTO public.message VALUES (4, 3, 11, 1, 1, 'I''ll bring cake', '', '', '', 0, 'v3-3', 1780000001003);
INSERT INTO public.message VALUES (5, 2, 11, 2, 1, 'standup moved', '', '', '', 0, 'v3-4', 1780000001004);
INSERT INTO public.message VALUES (6, 4, 11, 2, 1, 'ok', '', '', '', 0, 'v3-5', 1780000001005);


--
-- Data for Name: read_mark; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.read_mark VALUES (1, 2, 10, 1, 1, 1796169750099);


--
-- Data for Name: schema_version; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.schema_version VALUES (1, 3);


--
-- Data for Name: token; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.token VALUES (1, 1, 'f10cc160262597529b051e4dd064cca9ce442ed1cf3ed888a44c250051901952', 1796169750055, 1796169750055);
INSERT INTO public.token VALUES (2, 2, '5c80e86ab4df9ceece7ae688d92ead3ead10d79f19e47be8bb95a0cf7d4429bf', 1796169750058, 1796169750058);
INSERT INTO public.token VALUES (3, 3, 'ec81fb7cf15c1bf0e3d39e1493b821fe953e1ce9034b6660e98eddfb99850fab', 1796169750060, 1796169750060);
INSERT INTO public.token VALUES (4, 4, '20ec61566b041b6ca0e1a66d30b57c6caf50e555fd5e54f9b31648bfc2a52d7a', 1796169750063, 1796169750063);


--
-- Data for Name: user; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public."user" VALUES (1, '13800000001', '$argon2id$v=19$m=65536,t=3,p=4$sXKvQIFCcN9SZelmFbe1RA$VlV6m91n8M48vZ6lEN5R8wkFKAzkBlz4OxPRgqKrypo', 'alice', '', 'U', '', 1780000000000);
INSERT INTO public."user" VALUES (2, '13800000002', '$argon2id$v=19$m=65536,t=3,p=4$sXKvQIFCcN9SZelmFbe1RA$VlV6m91n8M48vZ6lEN5R8wkFKAzkBlz4OxPRgqKrypo', 'bob', '', 'U', '', 1780000000001);
INSERT INTO public."user" VALUES (3, '13800000003', '$argon2id$v=19$m=65536,t=3,p=4$sXKvQIFCcN9SZelmFbe1RA$VlV6m91n8M48vZ6lEN5R8wkFKAzkBlz4OxPRgqKrypo', 'carol', '', 'U', '', 1780000000002);
INSERT INTO public."user" VALUES (4, '13800000004', '$argon2id$v=19$m=65536,t=3,p=4$sXKvQIFCcN9SZelmFbe1RA$VlV6m91n8M48vZ6lEN5R8wkFKAzkBlz4OxPRgqKrypo', 'dave', '', 'U', '', 1780000000003);


--
-- Name: community_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.community_id_seq', 2, true);


--
-- Name: contact_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.contact_id_seq', 9, true);


--
-- Name: media_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.media_id_seq', 1, false);


--
-- Name: message_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.message_id_seq', 6, true);


--
-- Name: read_mark_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.read_mark_id_seq', 1, true);


--
-- Name: schema_version_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.schema_version_id_seq', 1, true);


--
-- Name: token_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.token_id_seq', 4, true);


--
-- Name: user_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.user_id_seq', 4, true);


--
-- Name: community community_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.community
    ADD CONSTRAINT community_pkey PRIMARY KEY (id);


--
-- Name: contact contact_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.contact
    ADD CONSTRAINT contact_pkey PRIMARY KEY (id);


--
-- Name: media media_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.media
    ADD CONSTRAINT media_pkey PRIMARY KEY (id);


--
-- Name: message message_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.message
    ADD CONSTRAINT message_pkey PRIMARY KEY (id);


--
-- Name: read_mark read_mark_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.read_mark
    ADD CONSTRAINT read_mark_pkey PRIMARY KEY (id);


--
-- Name: schema_version schema_version_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.schema_version
    ADD CONSTRAINT schema_version_pkey PRIMARY KEY (id);


--
-- Name: token token_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token
    ADD CONSTRAINT token_pkey PRIMARY KEY (id);


--
-- Name: user user_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public."user"
    ADD CONSTRAINT user_pkey PRIMARY KEY (id);


--
-- Name: community_owner_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX community_owner_id ON public.community USING btree (owner_id);


--
-- Name: contact_dst_id_cate; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX contact_dst_id_cate ON public.contact USING btree (dst_id, cate);


--
-- Name: contact_owner_id_cate_dst_id; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX contact_owner_id_cate_dst_id ON public.contact USING btree (owner_id, cate, dst_id);


--
-- Name: media_key; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX media_key ON public.media USING btree (key);


--
-- Name: media_sha256; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX media_sha256 ON public.media USING btree (sha256);


--
-- Name: media_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX media_user_id ON public.media USING btree (user_id);


--
-- Name: message_cmd_dst_id_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX message_cmd_dst_id_id ON public.message USING btree (cmd, dst_id, id);


--
-- Name: message_cmd_dst_id_user_id_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX message_cmd_dst_id_user_id_id ON public.message USING btree (cmd, dst_id, user_id, id);


--
-- Name: message_user_id_cmid; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX message_user_id_cmid ON public.message USING btree (user_id, cmid);


--
-- Name: message_user_id_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX message_user_id_id ON public.message USING btree (user_id, id);


--
-- Name: read_mark_user_id_cmd_dst_id; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX read_mark_user_id_cmd_dst_id ON public.read_mark USING btree (user_id, cmd, dst_id);


--
-- Name: token_digest; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX token_digest ON public.token USING btree (digest);


--
-- Name: token_user_id; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX token_user_id ON public.token USING btree (user_id);


--
-- Name: user_mobile; Type: INDEX; Schema: public; Owner: -
--

CREATE UNIQUE INDEX user_mobile ON public."user" USING btree (mobile);


--
-- Name: token token_user_id_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.token
    ADD CONSTRAINT token_user_id_fkey FOREIGN KEY (user_id) REFERENCES public."user"(id) ON DELETE CASCADE;


--
-- PostgreSQL database dump complete
--

\unrestrict kywExQ7SL6qet1knBo3Vz8jKTMG2FcGws4SroaLEM0LABd6OegIBMQPcrlgvn9R

